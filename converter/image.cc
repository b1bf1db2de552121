#include "converter/image.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/format.h"
#include "core/seekable/writer.h"

namespace starlight::converter {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

Result<ordered_json> ParseJson(std::string_view bytes, const std::string& what) {
  try {
    return ordered_json::parse(bytes);
  } catch (const std::exception& e) {
    return Status::Corruption(what + " is not valid JSON: " + e.what());
  }
}

std::string Mb(uint64_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MB", n / 1e6);
  return b;
}

// A temporary directory removed with everything in it.
class TempDir {
 public:
  static Result<TempDir> Create(std::string base) {
    if (base.empty()) {
      const char* t = std::getenv("TMPDIR");
      base = t && *t ? t : "/tmp";
    }
    std::string tmpl = base + "/starlight-convert-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp in " + base, errno);
    return TempDir(tmpl);
  }
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

// Plan (manifests, configs, distinct layers) -> convert distinct layers in parallel ->
// write configs and manifests -> write the index / tag last.
class ImageConverter {
 public:
  ImageConverter(const ImageOptions& o, oci::ImageStore* src, oci::ImageStore* dst, std::string tmp)
      : o_(o), src_(src), dst_(dst), tmp_(std::move(tmp)) {}

  Result<ImageReport> Run() {
    auto start = std::chrono::steady_clock::now();
    std::string ref = src_->ref();
    SL_ASSIGN_OR_RETURN(registry::Manifest top, src_->GetManifest(ref));
    std::string tag = dst_->ref();
    if (tag.rfind("sha256:", 0) == 0) {
      return Status::InvalidArgument("destination " + dst_->Describe() + " must name a tag, not a digest");
    }
    if (tag.empty()) tag = ref.rfind("sha256:", 0) == 0 ? "latest" : ref;

    // 1. Plan.
    ordered_json index_json;
    bool is_index = oci::IsIndexMediaType(top.media_type);
    if (is_index) {
      SL_ASSIGN_OR_RETURN(index_json, ParseJson(top.bytes, "index " + top.digest.ToString()));
      if (!index_json.contains("manifests") || !index_json["manifests"].is_array()) {
        return Status::Corruption("index " + top.digest.ToString() + " has no manifests");
      }
      for (auto& entry : index_json["manifests"]) {
        std::string platform = entry.contains("platform") ? PlatformOf(entry["platform"]) : "unknown/unknown";
        if (!Selected(platform)) {
          report_.skipped_platforms.push_back(platform);
          continue;
        }
        SL_ASSIGN_OR_RETURN(registry::Manifest child, src_->GetManifest(entry.value("digest", "")));
        if (!oci::IsManifestMediaType(child.media_type)) {
          return Status::NotSupported("index entry " + child.digest.ToString() + ": media type '" +
                                      child.media_type + "'");
        }
        SL_RETURN_IF_ERROR(Plan(std::move(child), platform));
        manifests_.back().index_entry = entry;
      }
      if (manifests_.empty()) return Status::NotFound(src_->Describe() + ": no platform matches --platform");
    } else if (oci::IsManifestMediaType(top.media_type)) {
      SL_RETURN_IF_ERROR(Plan(top, ""));
    } else {
      return Status::NotSupported(src_->Describe() + ": manifest media type '" + top.media_type + "'");
    }

    // 2. Distinct layers, converted in parallel (downloads and uploads overlap compression).
    SL_RETURN_IF_ERROR(ConvertLayers());

    // 3. Configs and platform manifests, then the index, then the tag.
    bool changed = !report_.skipped_platforms.empty();
    ordered_json kept = ordered_json::array();
    std::string out_bytes;
    for (size_t mi = 0; mi < manifests_.size(); ++mi) {
      SL_ASSIGN_OR_RETURN(std::string bytes, WriteManifest(manifests_[mi], /*tag=*/is_index ? "" : tag));
      if (is_index) {
        ordered_json entry = manifests_[mi].index_entry;
        digest::Digest d = digest::Sha256Of(bytes);
        if (d != manifests_[mi].manifest.digest) {
          entry["digest"] = d.ToString();
          entry["size"] = bytes.size();
          changed = true;
        }
        kept.push_back(entry);
      } else {
        out_bytes = bytes;
      }
    }
    if (is_index) {
      if (changed) {
        index_json["manifests"] = kept;
        out_bytes = index_json.dump();
      } else {
        out_bytes = top.bytes;  // already converted: identical bytes, identical digest
      }
      SL_RETURN_IF_ERROR(dst_->PushManifest(tag, top.media_type, out_bytes));
    }
    report_.destination_digest = digest::Sha256Of(out_bytes).ToString();
    report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
  }

 private:
  struct LayerRef {
    digest::Digest digest;
    size_t job;  // index into layers_
  };
  struct ManifestWork {
    registry::Manifest manifest;
    std::string platform;
    ordered_json json;
    ordered_json index_entry;
    digest::Digest config_digest;
    std::string config_bytes;
    std::vector<LayerRef> layers;
  };
  struct LayerJob {
    ordered_json desc;       // as first seen
    std::string diff_id;
    std::string label;
    // Result:
    std::string digest, media_type;
    uint64_t size = 0;
    bool converted = false;
  };

  static std::string PlatformOf(const ordered_json& p) {
    std::string s = p.value("os", "") + "/" + p.value("architecture", "");
    if (p.contains("variant") && p["variant"].is_string() && !p["variant"].get<std::string>().empty()) {
      s += "/" + p["variant"].get<std::string>();
    }
    return s;
  }

  bool Selected(const std::string& platform) const {
    if (o_.platforms.empty()) return true;
    for (const auto& want : o_.platforms) {
      // "linux/arm64" selects "linux/arm64/v8" too.
      if (platform == want || platform.rfind(want + "/", 0) == 0) return true;
    }
    return false;
  }

  Status Plan(registry::Manifest m, const std::string& platform) {
    ManifestWork w;
    std::string what = "manifest " + m.digest.ToString() + (platform.empty() ? "" : " (" + platform + ")");
    SL_ASSIGN_OR_RETURN(w.json, ParseJson(m.bytes, what));
    if (!w.json.contains("config") || !w.json.contains("layers") || !w.json["layers"].is_array()) {
      return Status::Corruption(what + " lacks config or layers");
    }
    SL_ASSIGN_OR_RETURN(w.config_digest, digest::Digest::Parse(w.json["config"].value("digest", "")));
    SL_RETURN_IF_ERROR(src_->FetchBlob(w.config_digest, [&](std::string_view d) {
      w.config_bytes.append(d);
      return w.config_bytes.size() > (64u << 20) ? Status::Corruption("config larger than 64 MiB") : Status::Ok();
    }));
    SL_ASSIGN_OR_RETURN(ordered_json config, ParseJson(w.config_bytes, "config " + w.config_digest.ToString()));
    if (platform.empty() && !o_.platforms.empty()) {
      std::string p = PlatformOf(config);
      if (!Selected(p)) return Status::NotFound(src_->Describe() + " is for " + p + ", not --platform");
    }
    std::vector<std::string> diff_ids;
    if (config.contains("rootfs") && config["rootfs"].contains("diff_ids")) {
      for (const auto& d : config["rootfs"]["diff_ids"]) diff_ids.push_back(d.get<std::string>());
    }
    const auto& layers = w.json["layers"];
    if (diff_ids.size() != layers.size()) {
      return Status::Corruption(what + ": " + std::to_string(layers.size()) + " layers but the config lists " +
                                std::to_string(diff_ids.size()) + " diff_ids");
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      ++report_.layers;
      SL_ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(layers[i].value("digest", "")));
      auto it = job_of_.find(d);
      if (it != job_of_.end()) {
        if (layers_[it->second].diff_id != diff_ids[i]) {
          return Status::Corruption(what + ": layer " + d.ToString() + " appears with two different diff_ids");
        }
        ++report_.shared;
        w.layers.push_back({d, it->second});
        continue;
      }
      LayerJob job;
      job.desc = layers[i];
      job.diff_id = diff_ids[i];
      job.label = "layer " + d.ToString().substr(0, 19) + " (" + Mb(layers[i].value("size", uint64_t{0})) + ")";
      job_of_[d] = layers_.size();
      w.layers.push_back({d, layers_.size()});
      layers_.push_back(std::move(job));
    }
    w.manifest = std::move(m);
    w.platform = platform;
    manifests_.push_back(std::move(w));
    return Status::Ok();
  }

  Status ConvertLayers() {
    size_t workers = std::min<size_t>(layers_.size(), 2);
    std::mutex mu;  // guards next, first_error, report_ counters
    size_t next = 0, finished = 0;
    Status first_error;
    auto work = [&] {
      for (;;) {
        size_t i;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (next >= layers_.size() || !first_error.ok()) return;
          i = next++;
        }
        Status s = ConvertOne(layers_[i], mu);
        std::lock_guard<std::mutex> lock(mu);
        ++finished;
        if (!s.ok() && first_error.ok()) first_error = s;
        if (s.ok()) {
          Progress("[" + std::to_string(finished) + "/" + std::to_string(layers_.size()) + "] " + layers_[i].label +
                   (layers_[i].converted ? ": converted to " + Mb(layers_[i].size) : ": already seekable, copied"));
        }
      }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    return first_error;
  }

  Status ConvertOne(LayerJob& job, std::mutex& mu) {
    const ordered_json& desc = job.desc;
    const std::string& label = job.label;
    std::string media = desc.value("mediaType", "");
    SL_ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(desc.value("digest", "")));
    uint64_t size = desc.value("size", uint64_t{0});
    job.digest = d.ToString();
    job.media_type = media;
    job.size = size;
    if (media == oci::kOciLayerZstd || media.find("zstd") != std::string::npos) {
      return Status::NotSupported(label + ": zstd layers (" + media + ") are not supported");
    }
    if (media == oci::kDockerForeignLayer || media == oci::kOciLayerNondistGzip) {
      return Status::Ok();  // not distributable: not ours to copy; kept as is
    }
    if (media != oci::kOciLayerGzip && media != oci::kDockerLayerGzip && media != oci::kOciLayerTar) {
      return Status::NotSupported(label + ": layer media type '" + media + "'");
    }
    // Already seekable? One range request for the footer decides.
    if (media != oci::kOciLayerTar && size >= seekable::kFooterMemberSize) {
      SL_ASSIGN_OR_RETURN(std::string tail, src_->FetchBlobRange(d, size - seekable::kFooterMemberSize,
                                                                 seekable::kFooterMemberSize));
      if (seekable::DecodeFooterMember(tail).ok()) {
        SL_RETURN_IF_ERROR(CopyBlob(d, label));
        std::lock_guard<std::mutex> lock(mu);
        ++report_.already_seekable;
        return Status::Ok();
      }
    }
    // Download (verified), convert, check the diffID, upload.
    Progress(label + ": downloading");
    std::string in_path = tmp_ + "/in-" + d.Hex();
    {
      SL_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::Create(in_path));
      SL_RETURN_IF_ERROR(src_->FetchBlob(d, [&](std::string_view b) { return w->Append(b); }).WithContext(label));
      SL_RETURN_IF_ERROR(w->Commit());
    }
    Progress(label + ": converting");
    std::string out_path = tmp_ + "/out-" + d.Hex();
    seekable::ConvertResult result;
    {
      SL_ASSIGN_OR_RETURN(auto in, io::OpenFileSource(in_path));
      SL_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::Create(out_path));
      seekable::WriterOptions wo;
      wo.level = o_.level;
      wo.threads = o_.threads;
      auto r = seekable::ConvertLayer(in.get(), w.get(), wo);
      if (!r.ok()) return r.status().WithContext(label);
      result = std::move(r).value();
      SL_RETURN_IF_ERROR(w->Commit());
    }
    std::error_code ec;
    fs::remove(in_path, ec);
    if (result.toc.diff_id.ToString() != job.diff_id) {
      return Status::Corruption(label + ": decompressed digest " + result.toc.diff_id.ToString() +
                                " differs from the config's diff_id " + job.diff_id);
    }
    Progress(label + ": uploading " + Mb(result.output_bytes));
    {
      SL_ASSIGN_OR_RETURN(auto r, io::OpenFileReader(out_path));
      SL_RETURN_IF_ERROR(dst_->PushBlob(result.blob_digest, *r).WithContext(label));
    }
    fs::remove(out_path, ec);
    job.digest = result.blob_digest.ToString();
    job.size = result.output_bytes;
    job.media_type = media == oci::kOciLayerTar ? std::string(oci::kOciLayerGzip) : media;
    job.converted = true;
    std::lock_guard<std::mutex> lock(mu);
    ++report_.converted;
    report_.bytes_in += size;
    report_.bytes_out += result.output_bytes;
    return Status::Ok();
  }

  Result<std::string> WriteManifest(ManifestWork& w, const std::string& tag) {
    bool oci_manifest = w.manifest.media_type == registry::kOciManifest;
    bool changed = false;
    auto& layers = w.json["layers"];
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerJob& job = layers_[w.layers[i].job];
      ordered_json out = layers[i];
      out["mediaType"] = job.media_type;
      out["digest"] = job.digest;
      out["size"] = job.size;
      if (job.converted && oci_manifest) out["annotations"][kSeekableAnnotation] = "1";
      if (out != layers[i]) {
        layers[i] = out;
        changed = true;
      }
    }
    // The config is copied byte for byte: diffIDs are unchanged by construction.
    auto reader = io::NewStringReader(w.config_bytes);
    SL_RETURN_IF_ERROR(dst_->PushBlob(w.config_digest, *reader).WithContext("copying config"));
    std::string bytes = changed ? w.json.dump() : w.manifest.bytes;
    SL_RETURN_IF_ERROR(dst_->PushManifest(tag, w.manifest.media_type, bytes));
    ++report_.manifests;
    return bytes;
  }

  Status CopyBlob(const digest::Digest& d, const std::string& label) {
    SL_ASSIGN_OR_RETURN(auto have, dst_->StatBlob(d));
    if (have.has_value()) return Status::Ok();
    std::string path = tmp_ + "/copy-" + d.Hex();
    {
      SL_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::Create(path));
      SL_RETURN_IF_ERROR(src_->FetchBlob(d, [&](std::string_view b) { return w->Append(b); }).WithContext(label));
      SL_RETURN_IF_ERROR(w->Commit());
    }
    SL_ASSIGN_OR_RETURN(auto r, io::OpenFileReader(path));
    Status s = dst_->PushBlob(d, *r).WithContext(label);
    std::error_code ec;
    fs::remove(path, ec);
    return s;
  }

  void Progress(const std::string& m) {
    if (o_.progress) o_.progress(m);
  }

  const ImageOptions& o_;
  oci::ImageStore* src_;
  oci::ImageStore* dst_;
  std::string tmp_;
  std::vector<ManifestWork> manifests_;
  std::vector<LayerJob> layers_;
  std::map<digest::Digest, size_t> job_of_;
  ImageReport report_;
};

}  // namespace

Result<ImageReport> ConvertImage(const ImageOptions& options) {
  SL_ASSIGN_OR_RETURN(auto src, oci::OpenImageStore(options.source, options.source_store, false));
  SL_ASSIGN_OR_RETURN(auto dst, oci::OpenImageStore(options.destination, options.destination_store, true));
  SL_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create(options.tmpdir));
  ImageConverter c(options, src.get(), dst.get(), tmp.path());
  auto r = c.Run();
  if (!r.ok()) return r.status().WithContext("converting " + src->Describe());
  return r;
}

std::string DescribeImageReport(const ImageOptions& options, const ImageReport& r) {
  char buf[1024];
  double overhead = r.bytes_in ? 100.0 * (double(r.bytes_out) - double(r.bytes_in)) / double(r.bytes_in) : 0.0;
  std::snprintf(buf, sizeof buf,
                "converted %s -> %s: %d manifest%s, %d layers (%d converted, %d already seekable, %d shared), "
                "%s -> %s (%+.2f %%), %.1f s, %s",
                options.source.c_str(), options.destination.c_str(), r.manifests, r.manifests == 1 ? "" : "s",
                r.layers, r.converted, r.already_seekable, r.shared, Mb(r.bytes_in).c_str(), Mb(r.bytes_out).c_str(),
                overhead, r.seconds, r.destination_digest.c_str());
  std::string s = buf;
  if (!r.skipped_platforms.empty()) {
    s += "; platforms left out by --platform:";
    for (const auto& p : r.skipped_platforms) s += " " + p;
  }
  return s;
}

}  // namespace starlight::converter
