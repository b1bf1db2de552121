// Assertions shared by the converter tests: what a correct conversion of a tar stream looks like
// (byte-identical decompression, per-file member alignment checked with plain zlib, embedded ToC
// equal to a scan, expected metadata, determinism, idempotence, tar/tar.gz/multi-member input
// giving the same blob).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/seekable/writer.h"
#include "core/tar/tar.h"
#include "core/toc/toc.h"

namespace starlight::testing {

// The expected view of one entry. Defaults match tests/testing/tar_builder.h's Header.
struct Want {
  std::string path;
  tar::EntryType type = tar::EntryType::kRegular;
  char typeflag = '0';
  uint32_t mode = 0644;
  uint64_t uid = 1000, gid = 1000;
  std::string uname = "user", gname = "group";
  int64_t mtime = 1700000000;
  uint32_t mtime_nsec = 0;
  uint64_t size = 0;  // logical size; set from content for regular files unless sparse
  std::string linkname;
  uint32_t devmajor = 0, devminor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  bool sparse = false;
  std::vector<tar::SparseSpan> sparse_map;
  std::string content;  // stored content of regular files
};

Want WantFile(std::string path, std::string content, uint32_t mode = 0644);
Want WantDir(std::string path, uint32_t mode = 0755);
Want WantSymlink(std::string path, std::string target);
Want WantHardlink(std::string path, std::string target);

// A looser expectation for archives written by real tools: the set of paths, and the logical
// content (sparse files expanded) of some regular files.
struct Loose {
  std::set<std::string> paths;
  std::map<std::string, std::string> files;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> xattrs;
  std::set<std::string> sparse;  // paths that must be sparse entries
};

struct Conversion {
  seekable::ConvertResult result;
  std::string blob;
};

// Converts in memory; ADD_FAILURE on error.
Conversion ConvertBytes(std::string_view input, seekable::WriterOptions options = {});

// Expands a sparse file's stored data into its logical content.
std::string ExpandSparse(const std::vector<tar::SparseSpan>& map, std::string_view stored,
                         uint64_t size);

// Everything the issue asks of a conversion of `tar`; see the header comment. Returns the blob.
std::string CheckConversion(const std::string& tar);
void CheckMemberAlignment(const std::string& blob, const std::string& tar, const toc::Toc& toc);
void CheckWant(const std::string& tar, const toc::Toc& toc, const std::vector<Want>& want);
void CheckLoose(const std::string& tar, const toc::Toc& toc, const Loose& loose);

}  // namespace starlight::testing
