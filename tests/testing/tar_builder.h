// Hand-made tar archives for tests: ustar / GNU / v7 header blocks with correct checksums, PAX
// and GNU long-name records, old GNU and PAX 1.0 sparse entries, and archives written by
// libarchive's archive_write API (pax, gnutar, ustar) in memory.
//
// Everything is built byte by byte here, independently of core/tar, so a test can compare what
// the library parses with what was written. Not thread-safe; one builder per archive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tar/tar.h"

namespace starlight::testing {

enum class Magic { kUstar, kGnu, kV7 };

// One 512-byte header block. Numbers are written in octal when they fit (NUL terminated, as
// GNU tar does) and in base-256 otherwise, or always when `base256_size` is set.
struct Header {
  std::string name;    // raw bytes, at most 100
  std::string prefix;  // ustar prefix field, at most 155
  uint32_t mode = 0644;
  uint64_t uid = 1000, gid = 1000;
  uint64_t size = 0;
  int64_t mtime = 1700000000;
  char typeflag = '0';
  std::string linkname;  // at most 100
  Magic magic = Magic::kUstar;
  std::string uname = "user", gname = "group";
  uint32_t devmajor = 0, devminor = 0;
  bool base256_size = false;
  bool corrupt_checksum = false;
  // Old GNU sparse ('S'): up to 4 spans in the header, the rest in extension blocks.
  std::vector<tar::SparseSpan> sparse;
  bool sparse_extended = false;
  uint64_t realsize = 0;
};

std::string EncodeHeader(const Header& h);
// A GNU sparse extension block holding up to 21 spans.
std::string EncodeSparseExtension(const std::vector<tar::SparseSpan>& spans, bool more);
// "<len> key=value\n" where len counts the whole record, itself included.
std::string PaxRecord(std::string_view key, std::string_view value);
// Zero-pads `data` to a multiple of 512 bytes.
std::string PadToBlock(std::string data);

class TarBuilder {
 public:
  // Header (size set from data unless `keep_size`) + data + padding.
  TarBuilder& Add(Header h, std::string_view data = {}, bool keep_size = false);
  TarBuilder& File(std::string_view name, std::string_view content, uint32_t mode = 0644);
  TarBuilder& Dir(std::string_view name, uint32_t mode = 0755);
  TarBuilder& Symlink(std::string_view name, std::string_view target);
  TarBuilder& Hardlink(std::string_view name, std::string_view target);
  // A PAX extended ('x') or global ('g') header carrying `records` (already PaxRecord-encoded).
  TarBuilder& Pax(std::string_view records, char type = 'x', std::string_view name = "PaxHeader");
  TarBuilder& Pax(const std::vector<std::pair<std::string, std::string>>& kv, char type = 'x');
  // GNU 'L' (long name) / 'K' (long link) records, as GNU tar writes them.
  TarBuilder& GnuLong(char type, std::string_view value);
  // An old GNU sparse entry: `h` gives name and attributes; spans beyond 4 go to extension
  // blocks; `stored` is the concatenated data of the spans.
  TarBuilder& OldGnuSparse(Header h, const std::vector<tar::SparseSpan>& spans, uint64_t realsize,
                           std::string_view stored);
  // A PAX sparse 1.0 entry as `tar --sparse --format=pax` writes it (GNUSparseFile.0/ name, map
  // text in the data area, then the stored data).
  TarBuilder& PaxSparse10(Header h, const std::vector<tar::SparseSpan>& spans, uint64_t realsize,
                          std::string_view stored);
  TarBuilder& Raw(std::string_view bytes);
  // End-of-archive: `zero_blocks` zero blocks.
  TarBuilder& End(int zero_blocks = 2);

  const std::string& bytes() const { return out_; }
  uint64_t size() const { return out_.size(); }

 private:
  std::string out_;
};

// Archives written by libarchive (archive_write_*), for compatibility cases.
enum class ArchiveFormat { kPax, kPaxRestricted, kGnuTar, kUstar };

struct ArchiveEntrySpec {
  std::string path;
  unsigned filetype = 0100000;  // AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFBLK, AE_IFIFO
  uint32_t perm = 0644;
  int64_t uid = 1000, gid = 1000;
  std::string uname = "user", gname = "group";
  int64_t mtime = 1700000000;
  long mtime_nsec = 0;
  std::string content;   // regular files
  std::string symlink;   // symlink target
  std::string hardlink;  // hard link target (then filetype is ignored)
  uint32_t devmajor = 0, devminor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// Throws std::runtime_error when libarchive reports an error.
std::string WriteWithLibarchive(ArchiveFormat format, const std::vector<ArchiveEntrySpec>& entries);

// Deterministic pseudo-random bytes (xorshift), moderately compressible when `text` is set.
std::string PseudoRandomBytes(size_t n, uint64_t seed, bool text = false);

}  // namespace starlight::testing
