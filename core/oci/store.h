// Where images live: a registry repository or an OCI image layout directory, behind one
// interface so the converter (and later the proxy) reads and writes either.
//
// References as skopeo spells them: `docker://host[:port]/repo[:tag|@digest]` and
// `oci:DIR[:tag]`. Blobs and manifests are verified against their digests on the way in and
// out. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/registry/client.h"
#include "core/status/status.h"

namespace starlight::oci {

// Media types (OCI image spec and Docker image manifest v2 schema 2).
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNondistGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";

bool IsIndexMediaType(std::string_view media_type);
bool IsManifestMediaType(std::string_view media_type);

struct StoreOptions {
  registry::ClientOptions registry;
  std::string authfile;  // Docker config.json with credentials, when none given in `registry`
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;
  // The tag or digest named by the reference this store was opened with (may be empty for
  // an OCI layout holding exactly one image).
  virtual const std::string& ref() const = 0;
  virtual std::string Describe() const = 0;  // for messages: "docker://h/r:t", "oci:/dir:t"

  virtual Result<registry::Manifest> GetManifest(const std::string& ref) = 0;
  virtual Result<std::optional<uint64_t>> StatBlob(const digest::Digest& d) = 0;
  virtual Status FetchBlob(const digest::Digest& d, const std::function<Status(std::string_view)>& sink) = 0;
  virtual Result<std::string> FetchBlobRange(const digest::Digest& d, uint64_t offset, uint64_t length) = 0;
  // Stores a blob unless already present; `data` must hash to `d`.
  virtual Status PushBlob(const digest::Digest& d, const io::RandomAccessReader& data) = 0;
  // Stores a manifest; `tag` empty: by digest only.
  virtual Status PushManifest(const std::string& tag, std::string_view media_type, std::string_view bytes) = 0;
};

// Opens `docker://...` or `oci:DIR[:tag]`. For oci, `create` makes the layout if missing.
Result<std::unique_ptr<ImageStore>> OpenImageStore(const std::string& reference, const StoreOptions& options,
                                                   bool create);

}  // namespace starlight::oci
