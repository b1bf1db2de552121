#include "tests/testing/registry/token_server.h"

#include <httplib.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace starlight::testing {
namespace {

using nlohmann::json;

struct Scope {
  std::string type, name;
  std::vector<std::string> actions;
};

// "repository:team/app:pull,push" (names may not contain ':', but tolerate it: the type ends at
// the first colon, the actions start after the last).
bool ParseScope(const std::string& text, Scope* scope) {
  size_t first = text.find(':'), last = text.rfind(':');
  if (first == std::string::npos || first == last) return false;
  scope->type = text.substr(0, first);
  scope->name = text.substr(first + 1, last - first - 1);
  std::stringstream actions(text.substr(last + 1));
  std::string action;
  while (std::getline(actions, action, ',')) {
    if (!action.empty()) scope->actions.push_back(action);
  }
  return !scope->type.empty() && !scope->name.empty();
}

std::string Rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Refuse(httplib::Response& res, int status, const std::string& code,
            const std::string& message) {
  res.status = status;
  if (status == 401) res.set_header("WWW-Authenticate", "Basic realm=\"starlight-test-token\"");
  json body = {{"errors", json::array({{{"code", code}, {"message", message}}})}};
  res.set_content(body.dump(), "application/json");
}

}  // namespace

struct TokenServer::Impl {
  TokenServerOptions options;
  std::string kid;
  std::string cert_der;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  bool tls = false;
  std::atomic<int> requests{0};
  std::atomic<bool> listen_done{false};
  std::mutex mu;
  std::map<std::string, std::string> refresh_tokens;  // token -> user; GUARDED_BY(mu)

  // The user authenticated by the request, or "" (and `res` filled) when refused.
  std::string Authenticate(const httplib::Request& req, httplib::Response& res) {
    std::string grant = req.get_param_value("grant_type");
    if (req.method == "POST" && grant == "refresh_token") {
      std::lock_guard<std::mutex> lock(mu);
      auto it = refresh_tokens.find(req.get_param_value("refresh_token"));
      if (it == refresh_tokens.end()) {
        Refuse(res, 401, "UNAUTHORIZED", "unknown refresh token");
        return "";
      }
      return it->second;
    }
    std::string user, password;
    if (req.method == "POST") {
      if (grant != "password") {
        Refuse(res, 400, "UNSUPPORTED", "unsupported grant_type '" + grant + "'");
        return "";
      }
      user = req.get_param_value("username");
      password = req.get_param_value("password");
    } else {
      std::string auth = req.get_header_value("Authorization");
      if (auth.size() < 6 || strncasecmp(auth.c_str(), "basic ", 6) != 0) {
        Refuse(res, 401, "UNAUTHORIZED", "basic credentials required");
        return "";
      }
      Result<std::string> decoded = pki::Base64Decode(auth.substr(6));
      size_t colon = decoded.ok() ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) {
        Refuse(res, 401, "UNAUTHORIZED", "malformed basic credentials");
        return "";
      }
      user = decoded->substr(0, colon);
      password = decoded->substr(colon + 1);
    }
    if (user != options.user || password != options.password) {
      Refuse(res, 401, "UNAUTHORIZED", "bad credentials");
      return "";
    }
    return user;
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1);
    std::string user = Authenticate(req, res);
    if (user.empty()) return;
    std::string service = req.get_param_value("service");
    if (!service.empty() && service != options.service) {
      Refuse(res, 400, "INVALID_REQUEST", "unknown service '" + service + "'");
      return;
    }
    // Grant every requested scope, merging the actions of repeated resources.
    std::vector<Scope> granted;
    for (size_t i = 0; i < req.get_param_value_count("scope"); ++i) {
      std::stringstream scopes(req.get_param_value("scope", i));
      std::string text;
      while (scopes >> text) {
        Scope scope;
        if (!ParseScope(text, &scope)) {
          Refuse(res, 400, "INVALID_REQUEST", "malformed scope '" + text + "'");
          return;
        }
        auto same = [&](const Scope& s) { return s.type == scope.type && s.name == scope.name; };
        auto it = std::find_if(granted.begin(), granted.end(), same);
        if (it == granted.end()) {
          granted.push_back(scope);
          continue;
        }
        for (const auto& a : scope.actions) {
          if (std::find(it->actions.begin(), it->actions.end(), a) == it->actions.end()) {
            it->actions.push_back(a);
          }
        }
      }
    }
    json access = json::array();
    for (const auto& s : granted) {
      access.push_back({{"type", s.type}, {"name", s.name}, {"actions", s.actions}});
    }
    std::time_t now = std::time(nullptr);
    json header = {{"typ", "JWT"}, {"alg", "ES256"}, {"kid", kid}};
    if (options.include_x5c) header["x5c"] = json::array({pki::Base64(cert_der)});
    json claims = {{"iss", options.issuer},
                   {"sub", user},
                   {"aud", options.service},
                   {"exp", now + options.ttl_seconds},
                   {"nbf", now},
                   {"iat", now},
                   {"jti", pki::RandomHex(16)},
                   {"access", access}};
    std::string signing_input = pki::Base64Url(header.dump()) + "." + pki::Base64Url(claims.dump());
    Result<std::string> signature = pki::SignEs256(options.signing_key.get(), signing_input);
    if (!signature.ok()) {
      Refuse(res, 500, "INTERNAL", signature.status().ToString());
      return;
    }
    std::string token = signing_input + "." + pki::Base64Url(*signature);
    json body = {{"token", token},
                 {"access_token", token},
                 {"expires_in", options.ttl_seconds},
                 {"issued_at", Rfc3339(now)}};
    if (req.method == "POST" || req.get_param_value("offline_token") == "true") {
      std::string refresh = pki::RandomHex(16);
      std::lock_guard<std::mutex> lock(mu);
      refresh_tokens[refresh] = user;
      body["refresh_token"] = refresh;
    }
    res.status = 200;
    res.set_content(body.dump(), "application/json");
  }
};

TokenServer::TokenServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<TokenServer>> TokenServer::Start(TokenServerOptions options) {
  auto impl = std::make_unique<Impl>();
  if (!options.signing_key || !options.signing_cert) {
    return Status::InvalidArgument("token server: signing key and certificate required");
  }
  SL_ASSIGN_OR_RETURN(impl->kid, pki::LibtrustKeyId(options.signing_key.get()));
  SL_ASSIGN_OR_RETURN(impl->cert_der, pki::CertDer(options.signing_cert.get()));
  impl->tls = !options.tls_cert_path.empty();
  if (impl->tls) {
    impl->server = std::make_unique<httplib::SSLServer>(options.tls_cert_path.c_str(),
                                                        options.tls_key_path.c_str());
  } else {
    impl->server = std::make_unique<httplib::Server>();
  }
  impl->options = std::move(options);
  if (!impl->server->is_valid()) return Status::Internal("token server: bad TLS key or cert");
  Impl* raw = impl.get();
  auto handler = [raw](const httplib::Request& req, httplib::Response& res) {
    raw->Handle(req, res);
  };
  impl->server->Get("/token", handler);
  impl->server->Post("/token", handler);
  impl->port = impl->server->bind_to_any_port("127.0.0.1");
  if (impl->port <= 0) return Status::Unavailable("token server: cannot bind 127.0.0.1");
  httplib::Server* server = impl->server.get();
  std::atomic<bool>* done = &impl->listen_done;
  impl->thread = std::thread([server, done] {
    server->listen_after_bind();
    done->store(true);
  });
  // stop() is a no-op until the loop runs: wait for it, so that the destructor can always stop.
  while (!server->is_running() && !done->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (done->load()) {
    impl->thread.join();
    return Status::Unavailable("token server: accept loop ended at once");
  }
  return std::unique_ptr<TokenServer>(new TokenServer(std::move(impl)));
}

TokenServer::~TokenServer() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int TokenServer::port() const { return impl_->port; }

std::string TokenServer::realm() const {
  return std::string(impl_->tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port) + "/token";
}

int TokenServer::requests() const { return impl_->requests.load(); }

}  // namespace starlight::testing
