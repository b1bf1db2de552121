#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/io/reader.h"
#include "core/io/writer.h"

namespace starlight::io {

Status ReadFull(ByteSource* src, char* buf, size_t n, std::string_view what) {
  size_t got = 0;
  while (got < n) {
    SL_ASSIGN_OR_RETURN(size_t r, src->Read(buf + got, n - got));
    if (r == 0) {
      return Status::Corruption("unexpected end of " + std::string(what) + " (" +
                                std::to_string(got) + " of " + std::to_string(n) + " bytes)");
    }
    got += r;
  }
  return Status::Ok();
}

Status ReadFullAt(const RandomAccessReader& r, uint64_t offset, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    SL_ASSIGN_OR_RETURN(size_t k, r.ReadAt(offset + got, buf + got, n - got));
    if (k == 0) {
      return Status::Corruption("read past end of data at offset " + std::to_string(offset + got));
    }
    got += k;
  }
  return Status::Ok();
}

Result<std::string> ReadAllAt(const RandomAccessReader& r, uint64_t offset, size_t n) {
  std::string s(n, '\0');
  SL_RETURN_IF_ERROR(ReadFullAt(r, offset, s.data(), n));
  return s;
}

namespace {

class FdSource : public ByteSource {
 public:
  FdSource(int fd, bool owned, std::string name) : fd_(fd), owned_(owned), name_(std::move(name)) {}
  ~FdSource() override {
    if (owned_) ::close(fd_);
  }
  Result<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Status::FromErrno("read " + name_, errno);
    }
  }

 private:
  int fd_;
  bool owned_;
  std::string name_;
};

class FileReader : public RandomAccessReader {
 public:
  FileReader(int fd, uint64_t size, std::string name) : fd_(fd), size_(size), name_(std::move(name)) {}
  ~FileReader() override { ::close(fd_); }
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    if (offset >= size_) return size_t{0};
    for (;;) {
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Status::FromErrno("pread " + name_, errno);
    }
  }
  uint64_t Size() const override { return size_; }

 private:
  int fd_;
  uint64_t size_;
  std::string name_;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string_view d) : d_(d) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, d_.size());
    std::memcpy(buf, d_.data(), k);
    d_.remove_prefix(k);
    return k;
  }

 private:
  std::string_view d_;
};

class StringReader : public RandomAccessReader {
 public:
  explicit StringReader(std::string_view d) : d_(d) {}
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    if (offset >= d_.size()) return size_t{0};
    size_t k = std::min<uint64_t>(n, d_.size() - offset);
    std::memcpy(buf, d_.data() + offset, k);
    return k;
  }
  uint64_t Size() const override { return d_.size(); }

 private:
  std::string_view d_;
};

class PrefixedSource : public ByteSource {
 public:
  PrefixedSource(std::string prefix, std::unique_ptr<ByteSource> rest)
      : prefix_(std::move(prefix)), rest_(std::move(rest)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    if (pos_ < prefix_.size()) {
      size_t k = std::min(n, prefix_.size() - pos_);
      std::memcpy(buf, prefix_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return rest_->Read(buf, n);
  }

 private:
  std::string prefix_;
  size_t pos_ = 0;
  std::unique_ptr<ByteSource> rest_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path) {
  if (path == "-") return std::unique_ptr<ByteSource>(new FdSource(0, false, "standard input"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is a directory");
  }
  return std::unique_ptr<ByteSource>(new FdSource(fd, true, path));
}

Result<std::unique_ptr<RandomAccessReader>> OpenFileReader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno("stat " + path, e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is not a regular file");
  }
  return std::unique_ptr<RandomAccessReader>(
      new FileReader(fd, static_cast<uint64_t>(st.st_size), path));
}

std::unique_ptr<ByteSource> NewStringSource(std::string_view data) {
  return std::make_unique<StringSource>(data);
}
std::unique_ptr<RandomAccessReader> NewStringReader(std::string_view data) {
  return std::make_unique<StringReader>(data);
}
std::unique_ptr<ByteSource> NewPrefixedSource(std::string prefix, std::unique_ptr<ByteSource> rest) {
  return std::make_unique<PrefixedSource>(std::move(prefix), std::move(rest));
}

// ---- AtomicFileWriter ----

namespace {
constexpr size_t kWriteBuffer = 1 << 20;

Status WriteAll(int fd, const char* p, size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + name, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}
}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string tmp, int fd, bool is_stdout)
    : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd), is_stdout_(is_stdout) {}

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(const std::string& path) {
  if (path == "-") {
    return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, "", 1, true));
  }
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string tmpl = dir + "/." + p.filename().string() + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("create temporary file in " + dir, errno);
  ::fchmod(fd, 0644);
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, tmpl, fd, false));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (is_stdout_) {
    (void)Flush();
    return;
  }
  if (!committed_) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

Status AtomicFileWriter::Flush() {
  if (buf_.empty()) return Status::Ok();
  Status s = WriteAll(fd_, buf_.data(), buf_.size(), is_stdout_ ? "standard output" : tmp_);
  buf_.clear();
  return s;
}

Status AtomicFileWriter::Append(std::string_view data) {
  written_ += data.size();
  if (buf_.size() + data.size() > kWriteBuffer) {
    SL_RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBuffer) {
      return WriteAll(fd_, data.data(), data.size(), is_stdout_ ? "standard output" : tmp_);
    }
  }
  buf_.append(data);
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  SL_RETURN_IF_ERROR(Flush());
  if (is_stdout_) {
    committed_ = true;
    return Status::Ok();
  }
  if (::fsync(fd_) != 0) return Status::FromErrno("fsync " + tmp_, errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Status::FromErrno("close " + tmp_, errno);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    committed_ = true;  // nothing left to clean up
    return Status::FromErrno("rename to " + path_, e);
  }
  committed_ = true;
  std::filesystem::path p(path_);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  SL_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::Create(path));
  SL_RETURN_IF_ERROR(w->Append(data));
  return w->Commit();
}

Result<std::string> ReadFileToString(const std::string& path) {
  SL_ASSIGN_OR_RETURN(auto src, OpenFileSource(path));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    SL_ASSIGN_OR_RETURN(size_t n, src->Read(buf, sizeof buf));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace starlight::io
