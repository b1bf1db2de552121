// What `starlight-proxy db ...` prints, rendered from a directory DB: the same text or JSON
// whether the CLI opened the DB itself or asked the running proxy's admin API
// (format-spec/proxy-admin-api.md). Stateless functions.
#pragma once

#include <string>

#include "core/dirdb/dirdb.h"
#include "core/status/status.h"

namespace starlight::proxy {

// Image references inside the proxy name a repository of its one upstream registry:
// "repo[:tag]" or "repo@sha256:..." (a leading "host[:port]/" equal to `upstream` is allowed).
struct RepoRef {
  std::string repository;
  std::string reference;  // tag or digest; default "latest"
};
Result<RepoRef> ParseRepoRef(const std::string& s, const std::string& upstream);

// Every tag: repository:tag, digest, kind, platforms, layers, seekable, files.
Result<std::string> RenderImages(dirdb::DirectoryDb* db, bool json);
// One image: tag, manifest/index, per platform its layers (seekable or why not, ToC size,
// bytes fetched) and merged tree summary; JSON adds each layer's ToC (as `starlight-convert
// inspect --json` prints it), the config, and the merged tree's nodes.
Result<std::string> RenderShow(dirdb::DirectoryDb* db, const RepoRef& ref, bool json);
Result<std::string> RenderStats(dirdb::DirectoryDb* db, bool json);

}  // namespace starlight::proxy
