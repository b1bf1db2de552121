// `starlight-convert image SRC DST`: converts every layer of an image (all platforms of an
// index / manifest list, or the chosen ones) into the seekable format and writes the image to
// DST. Media types are kept (Docker stays Docker, OCI stays OCI), the config blob is copied
// unchanged and each converted layer's diffID is checked against it. Layers already seekable are
// kept as they are, so converting a converted image is a no-op with identical digests; a layer
// shared by several platforms is converted once. Blobs go to DST before the manifests, and the
// tag is written last: an interrupted run leaves no broken tag, and a re-run completes it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/oci/store.h"
#include "core/status/status.h"

namespace starlight::converter {

// OCI annotation put on converted layer descriptors (OCI manifests only: Docker schema 2
// descriptors have no annotations).
inline constexpr char kSeekableAnnotation[] = "io.starlight.seekable";

struct ImageOptions {
  std::string source, destination;  // docker://... or oci:DIR[:tag]
  oci::StoreOptions source_store, destination_store;
  std::vector<std::string> platforms;  // "os/arch[/variant]"; empty: all
  int level = -1;                      // seekable::kAutoLevel
  int threads = 0;
  std::string tmpdir;                  // for layer downloads and conversions; default $TMPDIR
  // Progress and per-layer messages (for a terminal); may be empty.
  std::function<void(const std::string&)> progress;
};

struct ImageReport {
  std::string destination_digest;  // of the top-level manifest or index written
  int manifests = 0;               // platform manifests written
  int layers = 0;                  // layer references across all manifests
  int converted = 0;               // layers converted now
  int already_seekable = 0;        // distinct layers kept because they were seekable
  int shared = 0;                  // references satisfied by a layer converted earlier in the run
  uint64_t bytes_in = 0, bytes_out = 0;  // of the distinct layers converted
  std::vector<std::string> skipped_platforms;  // not selected by --platform
  double seconds = 0;
};

Result<ImageReport> ConvertImage(const ImageOptions& options);
std::string DescribeImageReport(const ImageOptions& options, const ImageReport& report);

}  // namespace starlight::converter
