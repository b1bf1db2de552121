// Read-only views of image manifests, indexes and configs (OCI image spec and Docker schema 2):
// the descriptors and fields Starlight acts on, parsed and validated once. Anything malformed is
// InvalidArgument naming the document and the field; unknown fields are ignored. Pure
// functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest/digest.h"
#include "core/status/status.h"

namespace starlight::oci {

struct Descriptor {
  std::string media_type;
  digest::Digest digest;
  uint64_t size = 0;
  std::string platform;  // index entries: "os/arch[/variant]"; "" when absent
  std::vector<std::pair<std::string, std::string>> annotations;
};

struct ManifestView {
  std::string media_type;  // from the document, or the one it was served with
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct IndexView {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

struct ConfigView {
  std::string platform;  // "os/arch[/variant]"
  std::vector<digest::Digest> diff_ids;
};

// Largest manifest, index or config Starlight reads (registries cap manifests at 4 MiB).
inline constexpr uint64_t kMaxDocumentSize = 16u << 20;

// `served_media_type` is the Content-Type the registry sent (used when the document omits
// mediaType, as older OCI manifests may).
Result<ManifestView> ParseManifest(std::string_view bytes, std::string_view served_media_type);
Result<IndexView> ParseIndex(std::string_view bytes, std::string_view served_media_type);
Result<ConfigView> ParseConfig(std::string_view bytes);

// gzip-compressed layer media types (the only ones that can be seekable).
bool IsGzipLayerMediaType(std::string_view media_type);

}  // namespace starlight::oci
