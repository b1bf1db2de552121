#include "tests/testing/gzip_util.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tests/testing/tar_builder.h"

namespace starlight::testing {

std::string GzipCompress(std::string_view data, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(z.total_out);
  return out;
}

std::string GzipMembers(std::string_view data, size_t piece, int level) {
  std::string out;
  do {
    size_t k = std::min(piece, data.size());
    out += GzipCompress(data.substr(0, k), level);
    data.remove_prefix(k);
  } while (!data.empty());
  return out;
}

namespace {

// Inflates one member starting at `gz`; returns consumed compressed bytes.
bool InflateMember(std::string_view gz, std::string* out, size_t* consumed, std::string* error) {
  z_stream z{};
  if (inflateInit2(&z, 16 + 15) != Z_OK) {
    *error = "inflateInit2";
    return false;
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(gz.size(), 1u << 30));
  char buf[1 << 16];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  *consumed = z.total_in;
  if (rc != Z_STREAM_END) {
    *error = z.msg ? z.msg : (rc == Z_BUF_ERROR ? "truncated member" : "inflate error");
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END;
}

}  // namespace

bool Gunzip(std::string_view gz, std::string* out, std::string* error) {
  out->clear();
  if (gz.empty()) {
    *error = "empty";
    return false;
  }
  while (!gz.empty()) {
    size_t used = 0;
    if (!InflateMember(gz, out, &used, error)) return false;
    gz.remove_prefix(used);
  }
  return true;
}

std::string GunzipOrThrow(std::string_view gz) {
  std::string out, error;
  if (!Gunzip(gz, &out, &error)) throw std::runtime_error("gunzip: " + error);
  return out;
}

std::vector<RawMember> ListMembers(std::string_view gz) {
  std::vector<RawMember> members;
  uint64_t off = 0, uoff = 0;
  while (off < gz.size()) {
    std::string data, error;
    size_t used = 0;
    if (!InflateMember(gz.substr(off), &data, &used, &error)) {
      throw std::runtime_error("member at " + std::to_string(off) + ": " + error);
    }
    members.push_back({off, used, uoff, data.size()});
    off += used;
    uoff += data.size();
  }
  return members;
}

bool InflateOneMember(std::string_view bytes, std::string* out) {
  std::string error;
  size_t used = 0;
  out->clear();
  return InflateMember(bytes, out, &used, &error) && used == bytes.size();
}

SyntheticSource::SyntheticSource(std::string prefix, uint64_t zeros, std::string suffix)
    : prefix_(std::move(prefix)), suffix_(std::move(suffix)), zeros_(zeros) {}

Result<size_t> SyntheticSource::Read(char* buf, size_t n) {
  size_t done = 0;
  while (done < n && pos_ < total()) {
    uint64_t p = pos_;
    size_t k;
    if (p < prefix_.size()) {
      k = std::min(n - done, prefix_.size() - p);
      std::memcpy(buf + done, prefix_.data() + p, k);
    } else if (p < prefix_.size() + zeros_) {
      k = static_cast<size_t>(std::min<uint64_t>(n - done, prefix_.size() + zeros_ - p));
      std::memset(buf + done, 0, k);
    } else {
      size_t s = static_cast<size_t>(p - prefix_.size() - zeros_);
      k = std::min(n - done, suffix_.size() - s);
      std::memcpy(buf + done, suffix_.data() + s, k);
    }
    done += k;
    pos_ += k;
  }
  return done;
}

std::unique_ptr<SyntheticSource> NewZeroFileTar(const std::string& name, uint64_t size) {
  Header h;
  h.name = name;
  h.size = size;
  std::string suffix((512 - size % 512) % 512 + 1024, '\0');
  return std::make_unique<SyntheticSource>(EncodeHeader(h), size, std::move(suffix));
}

struct GzipSource::Impl {
  std::unique_ptr<io::ByteSource> inner;
  z_stream z{};
  std::string in;
  bool in_eof = false;
  bool done = false;
};

GzipSource::GzipSource(std::unique_ptr<io::ByteSource> inner, int level)
    : impl_(std::make_unique<Impl>()) {
  impl_->inner = std::move(inner);
  impl_->in.resize(1 << 20);
  if (deflateInit2(&impl_->z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
}

GzipSource::~GzipSource() { deflateEnd(&impl_->z); }

Result<size_t> GzipSource::Read(char* buf, size_t n) {
  Impl& s = *impl_;
  if (s.done || n == 0) return size_t{0};
  s.z.next_out = reinterpret_cast<Bytef*>(buf);
  s.z.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
  while (s.z.avail_out == std::min<size_t>(n, 1u << 30)) {  // until some output
    if (s.z.avail_in == 0 && !s.in_eof) {
      SL_ASSIGN_OR_RETURN(size_t got, s.inner->Read(s.in.data(), s.in.size()));
      if (got == 0) s.in_eof = true;
      s.z.next_in = reinterpret_cast<Bytef*>(s.in.data());
      s.z.avail_in = static_cast<uInt>(got);
    }
    int rc = deflate(&s.z, s.in_eof ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      s.done = true;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Status::Internal("deflate failed");
  }
  return std::min<size_t>(n, 1u << 30) - s.z.avail_out;
}

}  // namespace starlight::testing
