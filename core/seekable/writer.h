// Converts a layer (tar or tar.gz, any gzip) into a seekable blob, streaming.
//
// The blob's decompressed bytes equal the input's decompressed tar byte for byte; each regular
// file's content sits in its own gzip member(s) of at most kChunkSize bytes; the ToC is embedded
// at the end (format.h). Members are compressed on `threads` cores; memory stays bounded
// (a few chunks per thread) whatever the layer size. The result depends only on the
// decompressed input and the level, so converting a converted blob yields the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/status/status.h"
#include "core/toc/toc.h"

namespace starlight::seekable {

// Level policy "auto" (the default): members under kAutoSmallMember bytes (tar metadata and
// small files, which lose most from having no shared deflate window) get libdeflate's
// near-optimal parser at kAutoSmallLevel; larger ones the faster kAutoLargeLevel. On Debian
// layers it is the cheapest setting measured that stays under 3 % overhead while converting
// faster than `zcat | gzip -6` (uniform 9 is faster but larger; docs/benchmarks.md).
inline constexpr int kAutoLevel = -1;
inline constexpr uint64_t kAutoSmallMember = 256 << 10;
inline constexpr int kAutoSmallLevel = 10;
inline constexpr int kAutoLargeLevel = 7;
inline constexpr int kDefaultLevel = kAutoLevel;
// The level a member of `member_size` bytes is compressed at under `level` (auto or 0..12).
int LevelFor(int level, uint64_t member_size);

struct Progress {
  uint64_t tar_bytes = 0;     // decompressed input consumed so far
  uint64_t output_bytes = 0;  // blob bytes written so far
};

struct WriterOptions {
  int level = kDefaultLevel;  // kAutoLevel or 0 (stored) .. 12
  int threads = 0;            // 0: all cores
  uint64_t max_tar_size = 0;  // refuse decompressed input beyond this many bytes; 0: no limit
  // Called on the calling thread, at most every few megabytes.
  std::function<void(const Progress&)> progress;
};

struct ConvertResult {
  toc::Toc toc;
  std::string encoded_toc;       // EncodeToc(toc), as embedded
  uint64_t input_bytes = 0;      // bytes read from the input (compressed size of a tar.gz)
  bool input_gzip = false;
  uint64_t output_bytes = 0;     // blob size
  uint64_t toc_bytes = 0;        // ToC members + footer inside the blob
  uint64_t members = 0;          // gzip members in the blob, ToC and footer included
  digest::Digest blob_digest;    // sha256 of the blob (its OCI layer digest)
};

// Reads the whole input, writes the blob to `out` (not committed: the caller commits).
Result<ConvertResult> ConvertLayer(io::ByteSource* input, io::ByteSink* out,
                                   const WriterOptions& options);

}  // namespace starlight::seekable
