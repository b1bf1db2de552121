// Small test images for registry tests, made without the project's own code: an OCI image
// layout written by hand (layers by GNU tar + gzip -n, deterministic) and pushed into a
// RegistryFixture with `skopeo copy`, so that client tests have something real to pull.
// Not thread-safe (runs tools as child processes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status/status.h"
#include "tests/testing/registry/registry_fixture.h"

namespace starlight::testing {

struct TestImageOptions {
  // One map per layer, path (relative, e.g. "opt/a.txt"; parents are created) -> content.
  // Empty: a single layer with opt/starlight-test/{hello.txt,data.bin}. Keep files out of
  // bin/ lib/ (merged-/usr images break when a layer makes them real directories).
  std::vector<std::map<std::string, std::string>> layers;
  // Alternatively, the uncompressed tar stream of each layer (e.g. from TarBuilder, for
  // whiteouts and hard links); when not empty, `layers` is ignored.
  std::vector<std::string> layer_tars;
  // Push as Docker schema 2 (skopeo --format v2s2) instead of keeping the OCI manifest.
  bool docker_schema2 = false;
};

struct TestImageLayer {
  std::string digest;   // sha256 of the gzip blob
  std::string diff_id;  // sha256 of the uncompressed tar
  int64_t size = 0;     // blob size
  std::string blob;     // the gzip bytes
};

struct TestImage {
  std::string reference;        // "127.0.0.1:PORT/repo:tag" (PushTestImage only)
  std::string manifest_digest;  // the digest the registry stores (after any format conversion)
  std::string oci_manifest;     // the OCI manifest written to the layout
  std::string oci_manifest_digest;
  std::string config;  // the image config JSON (pushed verbatim)
  std::string config_digest;
  std::vector<TestImageLayer> layers;
};

// Writes an OCI image layout to `dir` (created if missing) holding one image tagged `tag`
// (annotation org.opencontainers.image.ref.name).
Result<TestImage> WriteTestOciLayout(const std::string& dir, const std::string& tag,
                                     const TestImageOptions& options = {});

// Builds a layout in a temporary directory and pushes it to registry/repo:tag with skopeo,
// using the registry's credentials (basic, or via its token server) and its CA.
Result<TestImage> PushTestImage(const RegistryFixture& registry, const std::string& repo,
                                const std::string& tag, const TestImageOptions& options = {});

}  // namespace starlight::testing
