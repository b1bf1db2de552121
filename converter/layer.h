// `starlight-convert layer` and `starlight-convert inspect`: file-level commands over
// core/seekable. Options come from the CLI (converter/main.cc); results are returned, the caller
// prints and maps them to exit codes. Not thread-safe (one command per call).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/seekable/writer.h"
#include "core/status/status.h"

namespace starlight::converter {

struct LayerOptions {
  std::string input;     // tar or tar.gz path, "-" for standard input
  std::string output;    // blob path, "-" for standard output
  std::string toc_path;  // optional: also write the encoded ToC here
  int level = seekable::kDefaultLevel;
  int threads = 0;
  uint64_t max_tar_size = 0;
  bool show_progress = false;  // redraw a progress line on stderr
};

struct LayerReport {
  seekable::ConvertResult result;
  double seconds = 0;
};

// Converts; on any error, nothing is left at `output` or `toc_path`.
Result<LayerReport> ConvertLayerFile(const LayerOptions& options);
// "converted a.tar.gz -> b: 1234 entries, 49.1 MB -> 50.0 MB (+1.8 %), ToC 120 kB, 3.2 s"
std::string DescribeReport(const LayerOptions& options, const LayerReport& report);

struct InspectOptions {
  std::string blob;
  bool json = false;
  bool verify = false;
};

// Prints the ToC (summary or JSON) to `out`. NotFound means "not a seekable layer".
Status Inspect(const InspectOptions& options, std::ostream& out);

}  // namespace starlight::converter
