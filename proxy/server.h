// starlight-proxy's HTTP server: the registry hook's endpoint, the admin API
// (format-spec/proxy-admin-api.md), /healthz and /metrics. Later also the bundle server.
// Handlers are thin adapters over HookService and the inspect renderers. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/dirdb/dirdb.h"
#include "core/status/status.h"
#include "registry-hook/service.h"

namespace starlight::proxy {

struct ServerOptions {
  std::string listen = "127.0.0.1:5080";  // host:port; port 0 picks a free one
  std::string admin_token;                // bearer token of the admin API (REQUIRES: not empty)
  std::string upstream;                   // the registry's host[:port], to parse references
  std::string ready_file;  // when set, "http://host:port\n" is written here once listening
  int http_threads = 8;
};

class Server {
 public:
  // Binds and starts serving on a background thread. `hook` and `db` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                               hook::HookService* hook, dirdb::DirectoryDb* db);
  ~Server();
  std::string url() const;  // "http://host:port" as bound
  // Stops accepting requests and waits for the serving thread.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Asks a running proxy's admin API. Unavailable when nothing answers at `url`.
struct AdminClientOptions {
  std::string url;    // "http://host:port"
  std::string token;  // admin bearer token
  int timeout_seconds = 600;
};
// GET /v1/admin/db/{images,show,stats}: the rendered text or JSON.
Result<std::string> AdminGet(const AdminClientOptions& o, const std::string& what,
                             const std::string& ref, bool json);
// POST /v1/admin/ingest: the response JSON (results per reference).
Result<std::string> AdminIngest(const AdminClientOptions& o, const std::vector<std::string>& refs);

}  // namespace starlight::proxy
