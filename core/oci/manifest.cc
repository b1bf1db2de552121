#include "core/oci/manifest.h"

#include <nlohmann/json.hpp>

#include "core/oci/store.h"

namespace starlight::oci {
namespace {

using nlohmann::json;

Result<json> Parse(std::string_view bytes, std::string_view what) {
  if (bytes.size() > kMaxDocumentSize) {
    return Status::InvalidArgument(std::string(what) + " is larger than " +
                                   std::to_string(kMaxDocumentSize) + " bytes");
  }
  try {
    json j = json::parse(bytes);
    if (!j.is_object()) return Status::InvalidArgument(std::string(what) + " is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string(what) + " is not valid JSON: " + e.what());
  }
}

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string PlatformOf(const json& p) {
  std::string os = StringField(p, "os"), arch = StringField(p, "architecture");
  if (os.empty() && arch.empty()) return "";
  std::string s = os + "/" + arch;
  std::string variant = StringField(p, "variant");
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Result<Descriptor> ParseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return Status::InvalidArgument(what + " is not an object");
  Descriptor d;
  d.media_type = StringField(j, "mediaType");
  auto digest = digest::Digest::Parse(StringField(j, "digest"));
  if (!digest.ok()) return Status::InvalidArgument(what + ": " + digest.status().message());
  d.digest = *digest;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned()) {
    return Status::InvalidArgument(what + " has no valid size");
  }
  d.size = size->get<uint64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) d.platform = PlatformOf(*p);
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
    for (const auto& [k, v] : a->items()) {
      if (v.is_string()) d.annotations.emplace_back(k, v.get<std::string>());
    }
  }
  return d;
}

}  // namespace

bool IsGzipLayerMediaType(std::string_view m) {
  return m == kOciLayerGzip || m == kDockerLayerGzip || m == kOciLayerNondistGzip ||
         m == kDockerForeignLayer;
}

Result<ManifestView> ParseManifest(std::string_view bytes, std::string_view served_media_type) {
  SL_ASSIGN_OR_RETURN(json j, Parse(bytes, "manifest"));
  ManifestView v;
  v.media_type = StringField(j, "mediaType");
  if (v.media_type.empty()) v.media_type = std::string(served_media_type);
  if (!IsManifestMediaType(v.media_type)) {
    return Status::InvalidArgument("manifest has media type '" + v.media_type +
                                   "', not an image manifest");
  }
  auto config = j.find("config");
  if (config == j.end()) return Status::InvalidArgument("manifest has no config");
  SL_ASSIGN_OR_RETURN(v.config, ParseDescriptor(*config, "manifest config"));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array())
    return Status::InvalidArgument("manifest has no layers array");
  for (size_t i = 0; i < layers->size(); ++i) {
    SL_ASSIGN_OR_RETURN(Descriptor d,
                        ParseDescriptor((*layers)[i], "manifest layer " + std::to_string(i)));
    v.layers.push_back(std::move(d));
  }
  return v;
}

Result<IndexView> ParseIndex(std::string_view bytes, std::string_view served_media_type) {
  SL_ASSIGN_OR_RETURN(json j, Parse(bytes, "index"));
  IndexView v;
  v.media_type = StringField(j, "mediaType");
  if (v.media_type.empty()) v.media_type = std::string(served_media_type);
  if (!IsIndexMediaType(v.media_type)) {
    return Status::InvalidArgument("index has media type '" + v.media_type + "', not an index");
  }
  auto manifests = j.find("manifests");
  if (manifests == j.end() || !manifests->is_array())
    return Status::InvalidArgument("index has no manifests array");
  for (size_t i = 0; i < manifests->size(); ++i) {
    SL_ASSIGN_OR_RETURN(Descriptor d,
                        ParseDescriptor((*manifests)[i], "index entry " + std::to_string(i)));
    v.manifests.push_back(std::move(d));
  }
  return v;
}

Result<ConfigView> ParseConfig(std::string_view bytes) {
  SL_ASSIGN_OR_RETURN(json j, Parse(bytes, "image config"));
  ConfigView v;
  v.platform = PlatformOf(j);
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object())
    return Status::InvalidArgument("image config has no rootfs");
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array())
    return Status::InvalidArgument("image config has no rootfs.diff_ids");
  for (size_t i = 0; i < ids->size(); ++i) {
    const auto& id = (*ids)[i];
    auto d = digest::Digest::Parse(id.is_string() ? id.get<std::string>() : "");
    if (!d.ok())
      return Status::InvalidArgument("image config diff_id " + std::to_string(i) + ": " +
                                     d.status().message());
    v.diff_ids.push_back(*d);
  }
  return v;
}

}  // namespace starlight::oci
