// RegistryFixture: a real Debian `docker-registry` (distribution 2.8) started on a free loopback
// port for a test, with its config, storage, certificates and log in a temporary directory.
//
// Modes: plain HTTP or TLS (a CA generated per fixture; ca_cert_path() verifies the server) ×
// anonymous, htpasswd basic auth, or bearer tokens from an in-process token server (same scheme
// as the registry, signed by a per-fixture ES256 key whose certificate is the registry's
// rootcertbundle). Optionally the registry sends notifications to a given endpoint.
//
// The registry runs in its own process group and is SIGKILLed if the thread that started it
// dies (start fixtures from the test's main thread); the destructor stops it (SIGTERM, then
// SIGKILL), stops the token server and removes the temporary directory. Not thread-safe, except
// token_requests().
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status/status.h"

namespace starlight::testing {

struct RegistryOptions {
  enum Auth { kNone, kBasic, kToken };
  Auth auth = kNone;
  bool tls = false;
  // Credentials for kBasic (htpasswd, bcrypt) and kToken (checked by the token server).
  std::string user = "starlight";
  std::string password = "starlight-test-password";
  // kToken: lifetime of issued tokens (the response's expires_in and the JWT's exp). Note that
  // docker-registry accepts a token up to 60 s past its exp (fixed leeway).
  int token_ttl_seconds = 300;
  // kToken: put the signing certificate in the JWT header (x5c). When false the registry finds
  // the key by the header's libtrust `kid` alone.
  bool token_x5c = true;
  // When set, the registry posts event envelopes there (endpoint "starlight-test", timeout 5s,
  // threshold 3, backoff 500ms, application/octet-stream ignored) with these headers.
  std::string notify_url;
  std::map<std::string, std::string> notify_headers;
  std::string registry_binary = "/usr/bin/docker-registry";
  int ready_timeout_seconds = 15;
};

class RegistryFixture {
 public:
  // Starts the registry (and the token server) and returns once GET /v2/ answers. On failure
  // nothing is left running; the message carries the tail of the registry's log.
  static Result<std::unique_ptr<RegistryFixture>> Start(const RegistryOptions& options);
  ~RegistryFixture();
  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  const RegistryOptions& options() const;
  std::string host() const;           // "127.0.0.1:PORT"; stays the same across Restart()
  std::string url() const;            // "http://127.0.0.1:PORT" or "https://..."
  std::string ca_cert_path() const;   // PEM of the CA that signed the TLS certs; "" without TLS
  std::string token_realm() const;    // kToken: "scheme://127.0.0.1:PORT/token", else ""
  std::string token_service() const;  // kToken: the `service` the registry names, else ""
  std::string token_issuer() const;   // kToken: the JWT `iss`, else ""
  // kToken: requests that reached the token endpoint so far (refused ones included). Safe to
  // call from any thread.
  int token_requests() const;
  std::string temp_dir() const;     // everything below is removed by the destructor
  std::string storage_dir() const;  // the filesystem driver's rootdirectory
  std::string log_path() const;     // registry stdout+stderr (warn level, plus access log)
  int pid() const;                  // the registry's pid, -1 while it is not running

  // SIGKILLs the registry (a crash: in-flight requests fail, storage stays as it is).
  void Kill();
  // Stops the registry if it runs, then starts it again on the same port with the same config
  // and storage, and waits until it answers.
  Status Restart();

 private:
  struct Impl;
  explicit RegistryFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
