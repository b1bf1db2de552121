// Output files that appear only when complete (ingest -> commit).
//
// AtomicFileWriter writes to a temporary file beside the destination; Commit() fsyncs it,
// renames it into place and fsyncs the directory. Destroying an uncommitted writer removes the
// temporary file, so a failed conversion never leaves a partial output behind. Path "-" writes
// to standard output (no atomicity there). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status/status.h"

namespace starlight::io {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual uint64_t BytesWritten() const = 0;
};

// Keeps everything appended in memory (small blobs, tests).
class StringSink : public ByteSink {
 public:
  Status Append(std::string_view d) override {
    data.append(d);
    return Status::Ok();
  }
  uint64_t BytesWritten() const override { return data.size(); }
  std::string data;
};

class AtomicFileWriter : public ByteSink {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> Create(const std::string& path);
  ~AtomicFileWriter() override;

  Status Append(std::string_view data) override;
  uint64_t BytesWritten() const override { return written_; }
  Status Commit();

 private:
  AtomicFileWriter(std::string path, std::string tmp, int fd, bool is_stdout);
  Status Flush();

  std::string path_, tmp_;
  int fd_;
  bool is_stdout_;
  bool committed_ = false;
  uint64_t written_ = 0;
  std::string buf_;
};

// Writes `data` to path atomically (temp + fsync + rename).
Status WriteFileAtomic(const std::string& path, std::string_view data);
Result<std::string> ReadFileToString(const std::string& path);

}  // namespace starlight::io
