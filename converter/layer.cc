#include "converter/layer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ostream>

#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/reader.h"
#include "core/toc/toc.h"

namespace starlight::converter {

namespace {

std::string HumanBytes(uint64_t n) {
  char buf[32];
  if (n < 10000) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < 10000000) {
    std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  } else if (n < 10000000000ull) {
    std::snprintf(buf, sizeof buf, "%.1f MB", n / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GB", n / 1e9);
  }
  return buf;
}

}  // namespace

Result<LayerReport> ConvertLayerFile(const LayerOptions& options) {
  auto start = std::chrono::steady_clock::now();
  SL_ASSIGN_OR_RETURN(auto in, io::OpenFileSource(options.input));
  SL_ASSIGN_OR_RETURN(auto out, io::AtomicFileWriter::Create(options.output));
  std::unique_ptr<io::AtomicFileWriter> toc_out;
  if (!options.toc_path.empty()) {
    SL_ASSIGN_OR_RETURN(toc_out, io::AtomicFileWriter::Create(options.toc_path));
  }
  seekable::WriterOptions wo;
  wo.level = options.level;
  wo.threads = options.threads;
  wo.max_tar_size = options.max_tar_size;
  if (options.show_progress) {
    wo.progress = [start](const seekable::Progress& p) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "\r  converting: %s of tar read, %s written, %.0f MB/s   ",
                   HumanBytes(p.tar_bytes).c_str(), HumanBytes(p.output_bytes).c_str(),
                   s > 0 ? p.tar_bytes / 1e6 / s : 0.0);
    };
  }
  auto result = seekable::ConvertLayer(in.get(), out.get(), wo);
  if (options.show_progress) std::fprintf(stderr, "\r\033[K");
  if (!result.ok()) return result.status().WithContext("converting " + options.input);
  if (toc_out) {
    SL_RETURN_IF_ERROR(toc_out->Append(result->encoded_toc));
  }
  SL_RETURN_IF_ERROR(out->Commit());
  if (toc_out) SL_RETURN_IF_ERROR(toc_out->Commit());
  LayerReport report;
  report.result = std::move(result).value();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string DescribeReport(const LayerOptions& options, const LayerReport& report) {
  const auto& r = report.result;
  size_t files = 0;
  for (const auto& e : r.toc.entries) files += e.meta.type == tar::EntryType::kRegular;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "converted %s -> %s: %zu entries (%zu files), tar %s, %s %s -> %s (%+.2f %%), "
                "ToC %s, %llu members, %.2f s, %s",
                options.input.c_str(), options.output.c_str(), r.toc.entries.size(), files,
                HumanBytes(r.toc.tar_size).c_str(), r.input_gzip ? "gzip" : "tar",
                HumanBytes(r.input_bytes).c_str(), HumanBytes(r.output_bytes).c_str(),
                r.input_bytes ? 100.0 * (double(r.output_bytes) - double(r.input_bytes)) / double(r.input_bytes) : 0.0,
                HumanBytes(r.toc_bytes).c_str(), static_cast<unsigned long long>(r.members),
                report.seconds, r.blob_digest.ToString().c_str());
  return buf;
}

Status Inspect(const InspectOptions& options, std::ostream& out) {
  SL_ASSIGN_OR_RETURN(auto blob, io::OpenFileReader(options.blob));
  toc::Toc toc;
  std::string verified;
  if (options.verify) {
    SL_ASSIGN_OR_RETURN(auto v, seekable::VerifyLayer(*blob));
    toc = std::move(v.embedded.toc);
    verified = "verified: embedded ToC matches a scan of all " + std::to_string(v.scan.members) +
               " members; blob " + v.scan.blob_digest.ToString();
  } else {
    SL_ASSIGN_OR_RETURN(auto e, seekable::ReadEmbeddedToc(*blob));
    toc = std::move(e.toc);
  }
  if (options.json) {
    out << toc::TocToJson(toc) << "\n";
  } else {
    out << toc::Summary(toc) << "\n";
    for (const auto& e : toc.entries) {
      const auto& m = e.meta;
      out << tar::EntryTypeName(m.type) << "\t" << m.size << "\t" << m.path;
      if (!m.linkname.empty()) out << (m.type == tar::EntryType::kHardlink ? " => " : " -> ") << m.linkname;
      if (!e.chunks.empty()) out << "\t[" << e.chunks.size() << " chunk" << (e.chunks.size() > 1 ? "s" : "") << " @" << e.chunks[0].compressed_offset << "]";
      out << "\n";
    }
    if (!verified.empty()) out << verified << "\n";
  }
  if (!verified.empty() && options.json) std::fprintf(stderr, "%s\n", verified.c_str());
  return Status::Ok();
}

}  // namespace starlight::converter
