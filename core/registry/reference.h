// Image references as `docker`/`skopeo` spell them: host[:port]/repo[:tag][@digest].
//
// Normalisation follows the Docker reference grammar: a first component without '.' or ':'
// (and not "localhost") is not a host, so "debian" means docker.io/library/debian:latest.
// Plain value type.
#pragma once

#include <string>
#include <string_view>

#include "core/status/status.h"

namespace starlight::registry {

struct Reference {
  std::string registry;    // "host[:port]"; "docker.io" is served by registry-1.docker.io
  std::string repository;  // "library/debian"
  std::string tag;         // may be empty when digest is set
  std::string digest;      // "sha256:..." or empty

  // The tag or digest to ask the registry for (digest wins).
  std::string Ref() const { return digest.empty() ? tag : digest; }
  std::string ToString() const;  // canonical "host/repo:tag@digest"
};

Result<Reference> ParseReference(std::string_view s);

}  // namespace starlight::registry
