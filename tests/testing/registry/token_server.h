// A minimal Docker registry token server (internal to tests/testing/registry), run in-process
// on a loopback port for RegistryFixture's bearer-token mode.
//
// GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]  with HTTP basic credentials
// POST /token  (OAuth2 form: grant_type=password with username/password, or
//               grant_type=refresh_token with a refresh_token this server issued)
// answer {"token", "access_token", "expires_in", "issued_at"[, "refresh_token"]}. The token is
// an ES256 JWT carrying iss, sub, aud (= service), exp, nbf, iat, jti and an `access` list that
// grants every requested scope; its header names the signing key by libtrust `kid` and, unless
// disabled, by an `x5c` chain holding the signing certificate. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/status/status.h"
#include "tests/testing/registry/pki.h"

namespace starlight::testing {

struct TokenServerOptions {
  std::string tls_cert_path, tls_key_path;  // both empty: plain HTTP
  std::string user, password;
  std::string service, issuer;
  int ttl_seconds = 300;
  bool include_x5c = true;
  pki::PkeyPtr signing_key;  // P-256
  pki::X509Ptr signing_cert;
};

class TokenServer {
 public:
  // Binds 127.0.0.1 on a free port and serves on a background thread until destroyed.
  static Result<std::unique_ptr<TokenServer>> Start(TokenServerOptions options);
  ~TokenServer();
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  int port() const;
  std::string realm() const;  // scheme://127.0.0.1:PORT/token
  // Requests that reached /token, answered or refused.
  int requests() const;

 private:
  struct Impl;
  explicit TokenServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
