// Gzip members (RFC 1952) as the seekable format uses them.
//
// MemberCompressor writes one complete member per call with fixed header fields (MTIME 0,
// XFL 0, OS 255), so output depends only on the input bytes and the level (libdeflate, levels
// 0-12). ExtraMember builds an *empty* member whose FEXTRA field carries one subfield: it
// decompresses to zero bytes. GzipDecoder inflates a multi-member stream (zlib), checks every
// member's CRC-32 and ISIZE, and reports member boundaries to an observer. None of these types
// is thread-safe; use one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/io/reader.h"
#include "core/status/status.h"

namespace starlight::gzip {

inline constexpr size_t kHeaderSize = 10;
inline constexpr size_t kTrailerSize = 8;
inline constexpr size_t kMaxExtraPayload = 65535 - 4;  // XLEN limit minus subfield header
inline constexpr int kMaxLevel = 12;

bool LooksLikeGzip(std::string_view prefix);  // magic 1f 8b 08

class MemberCompressor {
 public:
  // REQUIRES: 0 <= level <= kMaxLevel.
  explicit MemberCompressor(int level);
  ~MemberCompressor();
  MemberCompressor(const MemberCompressor&) = delete;
  MemberCompressor& operator=(const MemberCompressor&) = delete;

  // Appends one gzip member holding `data` to *out.
  void Compress(std::string_view data, std::string* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An empty gzip member (FLG.FEXTRA) carrying `payload` in one subfield (si1, si2).
// REQUIRES: payload.size() <= kMaxExtraPayload.
std::string ExtraMember(char si1, char si2, std::string_view payload);
inline constexpr size_t ExtraMemberSize(size_t payload) {
  return kHeaderSize + 2 + 4 + payload + 2 /* empty fixed block */ + kTrailerSize;
}
// Parses a member built by ExtraMember at the start of `bytes`; returns the subfield payload and
// sets *member_size. Anything else (other flags, other subfield, non-empty body) is Corruption.
Result<std::string_view> ParseExtraMember(std::string_view bytes, char si1, char si2,
                                          size_t* member_size);

struct MemberInfo {
  uint64_t compressed_offset = 0;  // of the member's first byte in the gzip stream
  uint64_t compressed_size = 0;
  uint64_t uncompressed_offset = 0;  // in the decompressed stream
  uint64_t uncompressed_size = 0;
};

class GzipDecoder : public io::ByteSource {
 public:
  using MemberObserver = std::function<void(const MemberInfo&)>;
  // `in` must outlive the decoder. The observer (optional) sees each member once it has been
  // fully decoded and verified, before any byte of the next member is returned.
  explicit GzipDecoder(io::ByteSource* in, MemberObserver observer = nullptr);
  ~GzipDecoder() override;

  Result<size_t> Read(char* buf, size_t n) override;
  uint64_t compressed_offset() const;
  uint64_t members() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::gzip
