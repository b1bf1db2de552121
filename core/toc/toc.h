// The table of contents (ToC) of one seekable layer: every tar entry with its metadata, the
// sha256 of each regular file's content and where that content lies in the compressed blob.
//
// A plain value type. EncodeToc/DecodeToc implement the versioned binary encoding of
// format-spec/seekable-layer.md ("ToC encoding"); DecodeToc validates everything it reads, so a
// hostile ToC yields Corruption, never a crash. TocToJson renders the `inspect --json` view.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest/digest.h"
#include "core/status/status.h"
#include "core/tar/tar.h"

namespace starlight::toc {

inline constexpr uint32_t kTocMagic = 0x43544c53;  // "SLTC" as little-endian bytes
inline constexpr uint16_t kTocVersion = 1;

// One gzip member holding a run of a regular file's content.
struct Chunk {
  uint64_t compressed_offset = 0;  // of the member in the blob
  uint64_t compressed_size = 0;    // of the whole member (header and trailer included)
  uint64_t file_offset = 0;        // of the first content byte in the stored content
  uint64_t size = 0;               // uncompressed bytes in the member
  digest::Digest digest;           // sha256 of those bytes
  bool operator==(const Chunk&) const = default;
};

struct Entry {
  tar::Entry meta;
  digest::Digest digest;  // of the stored content; regular files only (empty files too)
  std::vector<Chunk> chunks;
  bool operator==(const Entry& o) const;
};

struct Toc {
  uint64_t tar_size = 0;   // length of the decompressed tar stream
  digest::Digest diff_id;  // sha256 of the decompressed tar stream (the layer's diffID)
  std::vector<Entry> entries;
  bool operator==(const Toc&) const = default;
};

std::string EncodeToc(const Toc& toc);
Result<Toc> DecodeToc(std::string_view data);

struct JsonOptions {
  bool pretty = false;
};
std::string TocToJson(const Toc& toc, const JsonOptions& options = {});

// Short human summary: entries by type, regular files, content bytes, chunks.
std::string Summary(const Toc& toc);

}  // namespace starlight::toc
