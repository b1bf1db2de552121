// Docker Registry HTTP API v2 / OCI distribution client, shared by the converter, the proxy and
// the worker.
//
// Auth: anonymous, HTTP basic and bearer tokens (the WWW-Authenticate challenge flow, tokens
// cached per scope until they expire, refreshed on a 401 in the middle of a long job).
// Credentials come from the options or Docker's config.json. Every manifest and blob fetched is
// checked against its digest: a mismatch is an error, never data. Transient failures (connection
// loss, 429, 5xx) are retried with exponential backoff; a blob download that breaks off resumes
// with a Range request; an expired redirect to blob storage is resolved again from the registry.
// Thread-safe: one client per registry host serves concurrent requests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/status/status.h"

namespace starlight::registry {

// Media types this client negotiates for manifests.
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

struct Credentials {
  std::string username, password;
  bool empty() const { return username.empty() && password.empty(); }
};

// Looks `registry` ("host[:port]") up in a Docker config file: `authfile` if given, else
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json. No file or no entry: empty
// credentials. A malformed file is an error.
Result<Credentials> LoadDockerCredentials(const std::string& registry, const std::string& authfile = "");

struct ClientOptions {
  bool plain_http = false;  // http:// instead of https://
  std::string ca_cert_file;
  bool insecure_skip_tls_verify = false;
  Credentials credentials;
  int max_attempts = 5;          // per request, for transient failures
  int initial_backoff_ms = 200;  // doubles per attempt, capped at 5 s
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 120;
};

struct Manifest {
  std::string media_type;
  std::string bytes;  // verbatim, as the digest covers them
  digest::Digest digest;
};

struct PushBlobOptions {
  uint64_t chunk_size = 0;     // 0: one monolithic PUT; else PATCH chunks of this size
  std::string mount_from;      // try a cross-repository mount from this repository first
};

class RegistryClient {
 public:
  virtual ~RegistryClient() = default;

  // `ref` is a tag or a digest. For a digest the bytes are verified against it; for a tag
  // against the registry's Docker-Content-Digest header when it sends one.
  virtual Result<Manifest> GetManifest(const std::string& repo, const std::string& ref) = 0;
  // Size of the blob, or nullopt if the registry does not have it.
  virtual Result<std::optional<uint64_t>> StatBlob(const std::string& repo, const digest::Digest& d) = 0;
  // Streams the whole blob to `sink` and verifies its digest at the end: on error, the caller
  // must discard what the sink received (write it to an ingest file, commit on success).
  virtual Status FetchBlob(const std::string& repo, const digest::Digest& d,
                           const std::function<Status(std::string_view)>& sink) = 0;
  // Bytes [offset, offset + length) of a blob (HTTP Range; a registry that ignores ranges is
  // handled by skipping, with a warning in the log).
  virtual Result<std::string> FetchBlobRange(const std::string& repo, const digest::Digest& d,
                                             uint64_t offset, uint64_t length) = 0;
  // Uploads `data` (whose sha256 must be `d`) unless the registry already has it.
  virtual Status PushBlob(const std::string& repo, const digest::Digest& d,
                          const io::RandomAccessReader& data, const PushBlobOptions& options = {}) = 0;
  // Puts a manifest under a tag or its digest; returns the digest the registry reports.
  virtual Result<digest::Digest> PushManifest(const std::string& repo, const std::string& ref,
                                              std::string_view media_type, std::string_view bytes) = 0;

  // Counters for tests and logs.
  virtual uint64_t token_fetches() const = 0;
  virtual uint64_t requests() const = 0;
};

// `registry` is "host[:port]"; "docker.io" is mapped to registry-1.docker.io.
std::unique_ptr<RegistryClient> NewRegistryClient(const std::string& registry, const ClientOptions& options);

// A RandomAccessReader over a blob of known size, reading with range requests.
std::unique_ptr<io::RandomAccessReader> NewBlobReader(RegistryClient* client, std::string repo,
                                                      digest::Digest d, uint64_t size);

// Parses a WWW-Authenticate challenge: scheme ("bearer"/"basic", lowercased) and parameters.
struct Challenge {
  std::string scheme;
  std::vector<std::pair<std::string, std::string>> params;
  std::string Param(std::string_view key) const;
};
Result<Challenge> ParseChallenge(std::string_view header);

}  // namespace starlight::registry
