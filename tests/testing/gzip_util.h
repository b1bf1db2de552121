// Gzip helpers for tests, on plain zlib (independent of core/gzip): compress into one or several
// members, decompress multi-member streams, walk the member boundaries of a blob, and streaming
// ByteSources that synthesise huge inputs (a tar entry of N zeros, gzip on the fly) without
// holding them in memory. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/reader.h"

namespace starlight::testing {

// One gzip member (zlib, MTIME 0).
std::string GzipCompress(std::string_view data, int level = 6);
// Consecutive members holding `piece`-byte slices of data (the last one shorter).
std::string GzipMembers(std::string_view data, size_t piece, int level = 6);

// Decompresses a (multi-member) gzip stream. Returns false and sets *error on any problem.
bool Gunzip(std::string_view gz, std::string* out, std::string* error);
// Same, throwing std::runtime_error.
std::string GunzipOrThrow(std::string_view gz);

struct RawMember {
  uint64_t offset = 0;  // compressed
  uint64_t size = 0;
  uint64_t uoffset = 0;  // uncompressed
  uint64_t usize = 0;
};
// Walks every member of a gzip stream with zlib; throws std::runtime_error on damage.
std::vector<RawMember> ListMembers(std::string_view gz);

// Inflates `bytes` as exactly one complete gzip member; false if it is not exactly that.
bool InflateOneMember(std::string_view bytes, std::string* out);

// `prefix`, then `zeros` zero bytes, then `suffix`, generated on the fly.
class SyntheticSource : public io::ByteSource {
 public:
  SyntheticSource(std::string prefix, uint64_t zeros, std::string suffix);
  Result<size_t> Read(char* buf, size_t n) override;
  uint64_t total() const { return prefix_.size() + zeros_ + suffix_.size(); }

 private:
  std::string prefix_, suffix_;
  uint64_t zeros_;
  uint64_t pos_ = 0;
};

// A tar archive with one regular file `name` of `size` zero bytes (base-256 size field when
// it does not fit in octal), padding and two end-of-archive blocks.
std::unique_ptr<SyntheticSource> NewZeroFileTar(const std::string& name, uint64_t size);

// Gzip-compresses `inner` on the fly (one member, zlib `level`).
class GzipSource : public io::ByteSource {
 public:
  GzipSource(std::unique_ptr<io::ByteSource> inner, int level);
  ~GzipSource() override;
  Result<size_t> Read(char* buf, size_t n) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
