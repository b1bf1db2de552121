// Streaming tar parser that keeps every byte: headers, extension records, padding, the
// end-of-archive blocks and trailing bytes go to a metadata sink in stream order, the data of
// regular files is read by the caller. Concatenating both, in order, gives back the input.
//
// Understands ustar, PAX (`x`, `g`; path, linkpath, size, uid/gid, uname/gname, mtime with
// fraction, SCHILY.xattr.*, SCHILY.devmajor/devminor, GNU.sparse.* 0.0/0.1/1.0), GNU `L`/`K`
// long names, old GNU sparse (`S`, with extension blocks) and base-256 numbers. Hostile input
// (bad checksums, truncation, paths escaping the root, oversized records) is a Status, never a
// crash. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/io/reader.h"
#include "core/status/status.h"

namespace starlight::tar {

inline constexpr size_t kBlockSize = 512;
// Upper bound on one PAX record set, GNU long name or sparse map held in memory.
inline constexpr uint64_t kMaxMetadataRecord = 16ull << 20;

enum class EntryType : uint8_t {
  kRegular = 0,
  kHardlink = 1,
  kSymlink = 2,
  kCharDevice = 3,
  kBlockDevice = 4,
  kDirectory = 5,
  kFifo = 6,
  kOther = 7,  // volume labels, dumpdirs and unknown type flags: passed through, not interpreted
};
std::string_view EntryTypeName(EntryType t);

struct SparseSpan {
  uint64_t offset = 0;  // in the logical (expanded) file
  uint64_t length = 0;
  bool operator==(const SparseSpan&) const = default;
};

struct Entry {
  std::string path;      // normalised: no leading "./" or "/", no "." or ".." parts; root is "."
  EntryType type = EntryType::kRegular;
  char typeflag = '0';   // as found in the header
  uint32_t mode = 0;     // permission and set-id bits (07777)
  uint64_t uid = 0, gid = 0;
  std::string uname, gname;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint64_t size = 0;       // logical size (expanded size for sparse files)
  std::string linkname;    // hard link target (normalised) or symlink target (verbatim)
  uint32_t devmajor = 0, devminor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // in header order
  bool sparse = false;
  std::vector<SparseSpan> sparse_map;  // for sparse files: where the stored data goes
  uint64_t header_offset = 0;  // first header block of the entry (incl. PAX/GNU records)
  uint64_t data_offset = 0;    // first byte of the stored content
  uint64_t data_size = 0;      // stored content bytes (what ReadData returns)
};

// Normalises a tar member name; InvalidArgument if it escapes the root or is absolute.
Result<std::string> NormalizePath(std::string_view raw);

class Reader {
 public:
  using MetadataSink = std::function<Status(std::string_view)>;
  // `src` (the decompressed tar stream) must outlive the reader.
  Reader(io::ByteSource* src, MetadataSink metadata);

  // Parses the next entry. Returns false at the end of the archive, after passing the
  // end-of-archive blocks and any trailing bytes to the metadata sink. Unread content of the
  // previous entry is skipped first.
  Result<bool> Next(Entry* e);
  // Reads content of the current regular file; returns 0 when it has all been read.
  Result<size_t> ReadData(char* buf, size_t n);
  uint64_t offset() const { return offset_; }
  // Bytes of content of the current entry not read yet.
  uint64_t data_remaining() const { return data_remaining_; }

 private:
  Status ReadBlock(char* block, std::string_view what);
  Status ReadRecord(uint64_t size, std::string* out, std::string_view what);
  Status PassThrough(uint64_t n, std::string_view what);  // to the metadata sink
  Status Trailing();

  io::ByteSource* src_;
  MetadataSink metadata_;
  uint64_t offset_ = 0;
  uint64_t data_remaining_ = 0;
  uint64_t padding_ = 0;  // after the current content
  bool ended_ = false;
  std::vector<std::pair<std::string, std::string>> global_pax_;
  std::string current_path_;
};

}  // namespace starlight::tar
