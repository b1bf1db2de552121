#include "converter/image.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
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
    std::string out_bytes;
    if (oci::IsIndexMediaType(top.media_type)) {
      SL_ASSIGN_OR_RETURN(out_bytes, ConvertIndex(top));
    } else if (oci::IsManifestMediaType(top.media_type)) {
      SL_ASSIGN_OR_RETURN(out_bytes, ConvertManifest(top, ""));
    } else {
      return Status::NotSupported(src_->Describe() + ": manifest media type '" + top.media_type + "'");
    }
    SL_RETURN_IF_ERROR(dst_->PushManifest(tag, top.media_type, out_bytes));
    report_.destination_digest = digest::Sha256Of(out_bytes).ToString();
    report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
  }

 private:
  static std::string PlatformOf(const ordered_json& p) {
    std::string s = p.value("os", "") + "/" + p.value("architecture", "");
    if (p.contains("variant") && !p["variant"].get<std::string>().empty()) s += "/" + p["variant"].get<std::string>();
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

  Result<std::string> ConvertIndex(const registry::Manifest& index) {
    SL_ASSIGN_OR_RETURN(ordered_json j, ParseJson(index.bytes, "index " + index.digest.ToString()));
    if (!j.contains("manifests") || !j["manifests"].is_array()) {
      return Status::Corruption("index " + index.digest.ToString() + " has no manifests");
    }
    ordered_json kept = ordered_json::array();
    bool changed = false;
    for (auto& entry : j["manifests"]) {
      std::string platform = entry.contains("platform") ? PlatformOf(entry["platform"]) : "unknown/unknown";
      if (!Selected(platform)) {
        report_.skipped_platforms.push_back(platform);
        changed = true;
        continue;
      }
      std::string child_digest = entry.value("digest", "");
      SL_ASSIGN_OR_RETURN(registry::Manifest child, src_->GetManifest(child_digest));
      if (!oci::IsManifestMediaType(child.media_type)) {
        return Status::NotSupported("index entry " + child_digest + ": media type '" + child.media_type + "'");
      }
      SL_ASSIGN_OR_RETURN(std::string out, ConvertManifest(child, platform));
      SL_RETURN_IF_ERROR(dst_->PushManifest("", child.media_type, out));
      digest::Digest d = digest::Sha256Of(out);
      if (d != child.digest) {
        entry["digest"] = d.ToString();
        entry["size"] = out.size();
        changed = true;
      }
      kept.push_back(entry);
    }
    if (kept.empty()) {
      return Status::NotFound(src_->Describe() + ": no platform matches --platform");
    }
    if (!changed) return index.bytes;  // already converted: identical bytes, identical digest
    j["manifests"] = kept;
    return j.dump();
  }

  Result<std::string> ConvertManifest(const registry::Manifest& m, const std::string& platform) {
    std::string what = "manifest " + m.digest.ToString() + (platform.empty() ? "" : " (" + platform + ")");
    SL_ASSIGN_OR_RETURN(ordered_json j, ParseJson(m.bytes, what));
    if (!j.contains("config") || !j.contains("layers") || !j["layers"].is_array()) {
      return Status::Corruption(what + " lacks config or layers");
    }
    bool oci_manifest = m.media_type == registry::kOciManifest;
    SL_ASSIGN_OR_RETURN(digest::Digest config_digest, digest::Digest::Parse(j["config"].value("digest", "")));
    std::string config_bytes;
    SL_RETURN_IF_ERROR(src_->FetchBlob(config_digest, [&](std::string_view d) {
      config_bytes.append(d);
      return config_bytes.size() > (64u << 20) ? Status::Corruption("config larger than 64 MiB") : Status::Ok();
    }));
    SL_ASSIGN_OR_RETURN(ordered_json config, ParseJson(config_bytes, "config " + config_digest.ToString()));
    if (platform.empty() && !o_.platforms.empty()) {
      std::string p = config.value("os", "") + "/" + config.value("architecture", "");
      if (config.contains("variant")) p += "/" + config.value("variant", "");
      if (!Selected(p)) return Status::NotFound(src_->Describe() + " is for " + p + ", not --platform");
    }
    std::vector<std::string> diff_ids;
    if (config.contains("rootfs") && config["rootfs"].contains("diff_ids")) {
      for (const auto& d : config["rootfs"]["diff_ids"]) diff_ids.push_back(d.get<std::string>());
    }
    auto& layers = j["layers"];
    if (diff_ids.size() != layers.size()) {
      return Status::Corruption(what + ": " + std::to_string(layers.size()) + " layers but the config lists " +
                                std::to_string(diff_ids.size()) + " diff_ids");
    }
    bool changed = false;
    for (size_t i = 0; i < layers.size(); ++i) {
      ++report_.layers;
      ordered_json& desc = layers[i];
      std::string label = what + " layer " + std::to_string(i + 1) + "/" + std::to_string(layers.size());
      SL_ASSIGN_OR_RETURN(ordered_json out, ConvertLayer(desc, diff_ids[i], oci_manifest, label));
      if (out != desc) {
        desc = out;
        changed = true;
      }
    }
    // The config is copied byte for byte: diffIDs are unchanged by construction.
    {
      auto reader = io::NewStringReader(config_bytes);
      SL_RETURN_IF_ERROR(dst_->PushBlob(config_digest, *reader).WithContext("copying config"));
    }
    ++report_.manifests;
    if (!changed) return m.bytes;
    return j.dump();
  }

  Result<ordered_json> ConvertLayer(const ordered_json& desc, const std::string& diff_id, bool oci_manifest,
                                    const std::string& label) {
    std::string media = desc.value("mediaType", "");
    SL_ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(desc.value("digest", "")));
    uint64_t size = desc.value("size", uint64_t{0});
    if (media == oci::kOciLayerZstd || media.find("zstd") != std::string::npos) {
      return Status::NotSupported(label + ": zstd layers (" + media + ") are not supported");
    }
    if (media == oci::kDockerForeignLayer || media == oci::kOciLayerNondistGzip) {
      Progress(label + ": foreign layer kept as is");
      return desc;  // not distributable: not ours to copy
    }
    if (media != oci::kOciLayerGzip && media != oci::kDockerLayerGzip && media != oci::kOciLayerTar) {
      return Status::NotSupported(label + ": layer media type '" + media + "'");
    }
    if (auto it = done_.find(d); it != done_.end()) {
      ++report_.shared;
      ordered_json out = desc;
      out["digest"] = it->second.digest;
      out["size"] = it->second.size;
      out["mediaType"] = it->second.media_type;
      if (it->second.converted && oci_manifest) out["annotations"][kSeekableAnnotation] = "1";
      return out;
    }
    // Already seekable? One range request for the footer decides.
    if (media != oci::kOciLayerTar && size >= seekable::kFooterMemberSize) {
      SL_ASSIGN_OR_RETURN(std::string tail, src_->FetchBlobRange(d, size - seekable::kFooterMemberSize,
                                                                 seekable::kFooterMemberSize));
      if (seekable::DecodeFooterMember(tail).ok()) {
        Progress(label + ": already seekable, copied");
        SL_RETURN_IF_ERROR(CopyBlob(d, label));
        ++report_.already_seekable;
        done_[d] = {d.ToString(), size, media, false};
        return desc;
      }
    }
    // Download (verified), convert, check the diffID, upload.
    Progress(label + ": downloading " + Mb(size));
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
      SL_ASSIGN_OR_RETURN(result, seekable::ConvertLayer(in.get(), w.get(), wo));
      SL_RETURN_IF_ERROR(w->Commit());
    }
    fs::remove(in_path);
    if (result.toc.diff_id.ToString() != diff_id) {
      return Status::Corruption(label + ": decompressed digest " + result.toc.diff_id.ToString() +
                                " differs from the config's diff_id " + diff_id);
    }
    Progress(label + ": uploading " + Mb(result.output_bytes) + " (" + result.blob_digest.ToString().substr(0, 19) + ")");
    {
      SL_ASSIGN_OR_RETURN(auto r, io::OpenFileReader(out_path));
      SL_RETURN_IF_ERROR(dst_->PushBlob(result.blob_digest, *r).WithContext(label));
    }
    fs::remove(out_path);
    ++report_.converted;
    report_.bytes_in += size;
    report_.bytes_out += result.output_bytes;
    std::string new_media = media == oci::kOciLayerTar ? std::string(oci::kOciLayerGzip) : media;
    done_[d] = {result.blob_digest.ToString(), result.output_bytes, new_media, true};
    ordered_json out = desc;
    out["mediaType"] = new_media;
    out["digest"] = result.blob_digest.ToString();
    out["size"] = result.output_bytes;
    if (oci_manifest) out["annotations"][kSeekableAnnotation] = "1";
    return out;
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
    fs::remove(path);
    return s;
  }

  void Progress(const std::string& m) {
    if (o_.progress) o_.progress(m);
  }

  struct Done {
    std::string digest;
    uint64_t size;
    std::string media_type;
    bool converted;
  };
  const ImageOptions& o_;
  oci::ImageStore* src_;
  oci::ImageStore* dst_;
  std::string tmp_;
  std::map<digest::Digest, Done> done_;
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
