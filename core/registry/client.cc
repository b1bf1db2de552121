#include "core/registry/client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/coding/base64.h"
#include "core/http/client.h"
#include "core/io/writer.h"

namespace starlight::registry {

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string StripScheme(std::string s) {
  if (size_t p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  if (size_t p = s.find('/'); p != std::string::npos) s = s.substr(0, p);
  return s;
}

}  // namespace

std::string Challenge::Param(std::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return "";
}

Result<Challenge> ParseChallenge(std::string_view h) {
  Challenge c;
  size_t i = 0;
  while (i < h.size() && h[i] == ' ') ++i;
  size_t sp = h.find(' ', i);
  c.scheme = Lower(std::string(h.substr(i, sp == std::string_view::npos ? h.size() - i : sp - i)));
  if (c.scheme.empty()) return Status::InvalidArgument("empty WWW-Authenticate challenge");
  if (sp == std::string_view::npos) return c;
  i = sp + 1;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t eq = h.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key = Lower(std::string(h.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value.push_back(h[i++]);
      }
      if (i >= h.size()) return Status::InvalidArgument("unterminated quote in WWW-Authenticate");
      ++i;
    } else {
      size_t end = h.find(',', i);
      value = std::string(h.substr(i, end == std::string_view::npos ? h.size() - i : end - i));
      i = end == std::string_view::npos ? h.size() : end;
    }
    c.params.emplace_back(std::move(key), std::move(value));
  }
  return c;
}

Result<Credentials> LoadDockerCredentials(const std::string& registry, const std::string& authfile) {
  std::string path = authfile;
  if (path.empty()) {
    if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) {
      path = std::string(d) + "/config.json";
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      path = std::string(home) + "/.docker/config.json";
    } else {
      return Credentials{};
    }
  }
  auto text = io::ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound && authfile.empty()) return Credentials{};
    return text.status();
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("malformed Docker config " + path + ": " + e.what());
  }
  if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object()) return Credentials{};
  std::vector<std::string> wanted = {registry};
  if (registry == "docker.io") {
    wanted = {"docker.io", "index.docker.io", "registry-1.docker.io"};
  }
  for (const auto& [key, entry] : j["auths"].items()) {
    std::string host = StripScheme(key);
    if (std::find(wanted.begin(), wanted.end(), host) == wanted.end() || !entry.is_object()) continue;
    Credentials c;
    if (entry.contains("auth") && entry["auth"].is_string()) {
      SL_ASSIGN_OR_RETURN(std::string raw, coding::Base64Decode(entry["auth"].get<std::string>()));
      size_t colon = raw.find(':');
      if (colon == std::string::npos) {
        return Status::InvalidArgument("Docker config " + path + ": auth for " + key + " is not user:password");
      }
      c.username = raw.substr(0, colon);
      c.password = raw.substr(colon + 1);
    } else if (entry.contains("username") && entry.contains("password")) {
      c.username = entry.value("username", "");
      c.password = entry.value("password", "");
    }
    if (!c.empty()) return c;
  }
  return Credentials{};
}

namespace {

using Clock = std::chrono::steady_clock;

bool Transient(int status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

class Client : public RegistryClient {
 public:
  Client(std::string registry, ClientOptions options)
      : registry_(std::move(registry)), options_(std::move(options)) {
    std::string host = registry_ == "docker.io" ? "registry-1.docker.io" : registry_;
    base_ = (options_.plain_http ? "http://" : "https://") + host;
    http::ClientOptions ho;
    ho.ca_cert_file = options_.ca_cert_file;
    ho.insecure_skip_tls_verify = options_.insecure_skip_tls_verify;
    ho.connect_timeout_seconds = options_.connect_timeout_seconds;
    ho.read_timeout_seconds = options_.read_timeout_seconds;
    http_ = http::NewClient(ho);
  }

  uint64_t token_fetches() const override { return token_fetches_.load(); }
  uint64_t requests() const override { return requests_.load(); }

  Result<Manifest> GetManifest(const std::string& repo, const std::string& ref) override {
    http::Request req;
    req.url = base_ + "/v2/" + repo + "/manifests/" + ref;
    req.headers = {{"Accept", std::string(kOciManifest) + ", " + std::string(kOciIndex) + ", " +
                                  std::string(kDockerManifest) + ", " + std::string(kDockerManifestList)}};
    std::string what = "manifest " + registry_ + "/" + repo + ":" + ref;
    SL_ASSIGN_OR_RETURN(http::Response r, Do(req, Scope(repo, false), what));
    if (r.status != 200) return StatusFor(r, what);
    Manifest m;
    m.bytes = std::move(r.body);
    m.digest = digest::Sha256Of(m.bytes);
    if (ref.rfind("sha256:", 0) == 0) {
      if (m.digest.ToString() != ref) {
        return Status::Corruption(what + ": content digest is " + m.digest.ToString());
      }
    } else if (std::string h = r.Header("Docker-Content-Digest"); !h.empty() && h != m.digest.ToString()) {
      return Status::Corruption(what + ": registry says " + h + " but the content is " + m.digest.ToString());
    }
    m.media_type = r.Header("Content-Type");
    if (size_t semi = m.media_type.find(';'); semi != std::string::npos) m.media_type.resize(semi);
    try {
      auto j = nlohmann::json::parse(m.bytes);
      if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) {
        m.media_type = j["mediaType"].get<std::string>();
      }
    } catch (const std::exception& e) {
      return Status::Corruption(what + ": not JSON: " + e.what());
    }
    return m;
  }

  Result<std::optional<uint64_t>> StatBlob(const std::string& repo, const digest::Digest& d) override {
    http::Request req;
    req.method = "HEAD";
    req.url = BlobUrl(repo, d);
    req.follow_redirects = true;
    std::string what = "blob " + d.ToString() + " in " + repo;
    SL_ASSIGN_OR_RETURN(http::Response r, Do(req, Scope(repo, false), what));
    if (r.status == 404) return std::optional<uint64_t>();
    if (r.status != 200) return StatusFor(r, what);
    std::string len = r.Header("Content-Length");
    return std::optional<uint64_t>(len.empty() ? 0 : std::strtoull(len.c_str(), nullptr, 10));
  }

  Status FetchBlob(const std::string& repo, const digest::Digest& d,
                   const std::function<Status(std::string_view)>& sink) override {
    std::string what = "blob " + d.ToString() + " from " + registry_ + "/" + repo;
    digest::Sha256 hash;
    uint64_t received = 0;
    for (int attempt = 0;; ++attempt) {
      http::Request req;
      req.url = BlobUrl(repo, d);
      req.follow_redirects = true;
      if (received > 0) req.headers.emplace_back("Range", "bytes=" + std::to_string(received) + "-");
      uint64_t skip = 0;  // bytes to drop when a resumed request is answered with 200
      req.on_response = [&](int status, const http::Headers&) {
        skip = status == 200 ? received : 0;
      };
      req.on_body = [&](std::string_view data) -> Status {
        if (skip > 0) {
          size_t k = static_cast<size_t>(std::min<uint64_t>(skip, data.size()));
          data.remove_prefix(k);
          skip -= k;
        }
        if (data.empty()) return Status::Ok();
        hash.Update(data);
        received += data.size();
        return sink(data);
      };
      // Do() handles auth and transient statuses; a connection lost mid-body comes back here.
      auto r = DoOnce(req, Scope(repo, false), what);
      if (r.ok() && (r->status == 200 || r->status == 206)) break;
      if (r.ok() && !Transient(r->status) && !RedirectExpired(*r)) return StatusFor(*r, what);
      if (!r.ok() && r.status().code() != Code::kUnavailable) return r.status();
      if (attempt + 1 >= options_.max_attempts) {
        return r.ok() ? StatusFor(*r, what) : r.status().WithContext("after " + std::to_string(attempt + 1) + " attempts");
      }
      Backoff(attempt, r.ok() ? r->Header("Retry-After") : "");
    }
    digest::Digest got = hash.Finish();
    if (got != d) {
      return Status::Corruption(what + ": content digest is " + got.ToString() + " (" +
                                std::to_string(received) + " bytes)");
    }
    return Status::Ok();
  }

  Result<std::string> FetchBlobRange(const std::string& repo, const digest::Digest& d,
                                     uint64_t offset, uint64_t length) override {
    std::string what = "blob " + d.ToString() + " range " + std::to_string(offset) + "+" + std::to_string(length);
    if (length == 0) return std::string();
    http::Request req;
    req.url = BlobUrl(repo, d);
    req.follow_redirects = true;
    req.headers = {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}};
    std::string out;
    uint64_t pos = 0;
    bool whole = false;  // server ignored the range
    req.on_response = [&](int status, const http::Headers&) {
      whole = status == 200;
      out.clear();
      pos = 0;
    };
    req.on_body = [&](std::string_view data) -> Status {
      if (whole) {
        uint64_t start = pos, end = pos + data.size();
        pos = end;
        if (end <= offset || start >= offset + length) return Status::Ok();
        uint64_t a = std::max(start, offset) - start, b = std::min(end, offset + length) - start;
        out.append(data.substr(a, b - a));
        return Status::Ok();
      }
      if (out.size() + data.size() > length) return Status::Corruption(what + ": server sent more than asked");
      out.append(data);
      return Status::Ok();
    };
    SL_ASSIGN_OR_RETURN(http::Response r, Do(req, Scope(repo, false), what));
    if (r.status != 206 && r.status != 200) return StatusFor(r, what);
    if (out.size() != length) {
      return Status::Corruption(what + ": got " + std::to_string(out.size()) + " bytes");
    }
    return out;
  }

  Status PushBlob(const std::string& repo, const digest::Digest& d, const io::RandomAccessReader& data,
                  const PushBlobOptions& options) override {
    std::string what = "pushing blob " + d.ToString() + " to " + registry_ + "/" + repo;
    SL_ASSIGN_OR_RETURN(auto have, StatBlob(repo, d));
    if (have.has_value()) return Status::Ok();
    std::string scope = Scope(repo, true);
    http::Request start;
    start.method = "POST";
    start.url = base_ + "/v2/" + repo + "/blobs/uploads/";
    if (!options.mount_from.empty() && options.mount_from != repo) {
      start.url += "?mount=" + http::QueryEscape(d.ToString()) + "&from=" + http::QueryEscape(options.mount_from);
      scope += " " + Scope(options.mount_from, false);
    }
    SL_ASSIGN_OR_RETURN(http::Response r, Do(start, scope, what));
    if (r.status == 201) return Status::Ok();  // mounted
    if (r.status != 202) return StatusFor(r, what);
    SL_ASSIGN_OR_RETURN(std::string location, Location(r, start.url));
    uint64_t size = data.Size();
    if (options.chunk_size > 0 && size > options.chunk_size) {
      for (uint64_t off = 0; off < size; off += options.chunk_size) {
        uint64_t n = std::min(options.chunk_size, size - off);
        http::Request patch;
        patch.method = "PATCH";
        patch.url = location;
        patch.body_reader = &data;
        patch.body_offset = off;
        patch.body_length = n;
        patch.headers = {{"Content-Range", std::to_string(off) + "-" + std::to_string(off + n - 1)}};
        SL_ASSIGN_OR_RETURN(http::Response pr, DoOnce(patch, scope, what));
        if (pr.status != 202) return StatusFor(pr, what + " (chunk at " + std::to_string(off) + ")");
        SL_ASSIGN_OR_RETURN(location, Location(pr, location));
      }
      http::Request put;
      put.method = "PUT";
      put.url = location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + http::QueryEscape(d.ToString());
      SL_ASSIGN_OR_RETURN(http::Response fr, DoOnce(put, scope, what));
      if (fr.status != 201) return StatusFor(fr, what);
      return Status::Ok();
    }
    http::Request put;
    put.method = "PUT";
    put.url = location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + http::QueryEscape(d.ToString());
    put.body_reader = &data;
    put.body_length = size;
    SL_ASSIGN_OR_RETURN(http::Response pr, DoOnce(put, scope, what));
    if (pr.status != 201) return StatusFor(pr, what);
    return Status::Ok();
  }

  Result<digest::Digest> PushManifest(const std::string& repo, const std::string& ref,
                                      std::string_view media_type, std::string_view bytes) override {
    std::string what = "pushing manifest " + registry_ + "/" + repo + ":" + ref;
    http::Request put;
    put.method = "PUT";
    put.url = base_ + "/v2/" + repo + "/manifests/" + ref;
    put.body = std::string(bytes);
    put.content_type = std::string(media_type);
    SL_ASSIGN_OR_RETURN(http::Response r, Do(put, Scope(repo, true), what));
    if (r.status != 201) return StatusFor(r, what);
    digest::Digest ours = digest::Sha256Of(bytes);
    if (std::string h = r.Header("Docker-Content-Digest"); !h.empty() && h != ours.ToString()) {
      return Status::Corruption(what + ": registry stored digest " + h + ", expected " + ours.ToString());
    }
    return ours;
  }

 private:
  static std::string Scope(const std::string& repo, bool push) {
    return "repository:" + repo + (push ? ":pull,push" : ":pull");
  }
  std::string BlobUrl(const std::string& repo, const digest::Digest& d) const {
    return base_ + "/v2/" + repo + "/blobs/" + d.ToString();
  }

  Result<std::string> Location(const http::Response& r, const std::string& request_url) {
    std::string loc = r.Header("Location");
    if (loc.empty()) return Status::Unavailable("registry answered without a Location header");
    SL_ASSIGN_OR_RETURN(http::Url base, http::ParseUrl(request_url));
    return http::ResolveUrl(base, loc);
  }

  bool RedirectExpired(const http::Response& r) const {
    // A redirect target (blob storage) that refuses: its signed URL may have expired. Asking
    // the registry again yields a fresh one.
    return r.url.rfind(base_, 0) != 0 && (r.status == 400 || r.status == 401 || r.status == 403);
  }

  Status StatusFor(const http::Response& r, const std::string& what) {
    std::string detail;
    try {
      auto j = nlohmann::json::parse(r.body);
      if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
        const auto& e = j["errors"][0];
        detail = e.value("code", "") + ": " + e.value("message", "");
      }
    } catch (const std::exception&) {
    }
    std::string m = what + ": HTTP " + std::to_string(r.status) + (detail.empty() ? "" : " (" + detail + ")");
    switch (r.status) {
      case 401: return Status::Unauthenticated(m);
      case 403: return Status::PermissionDenied(m);
      case 404: return Status::NotFound(m);
      case 400: case 405: case 415: return Status::InvalidArgument(m);
      default: return Transient(r.status) ? Status::Unavailable(m) : Status::IoError(m);
    }
  }

  void Backoff(int attempt, const std::string& retry_after) {
    int64_t ms = static_cast<int64_t>(options_.initial_backoff_ms) << std::min(attempt, 10);
    ms = std::min<int64_t>(ms, 5000);
    if (!retry_after.empty()) {
      int64_t s = std::strtoll(retry_after.c_str(), nullptr, 10);
      if (s > 0) ms = std::min<int64_t>(s * 1000, 30000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  // --- authorization ---

  std::string AuthHeader(const std::string& scope) {
    std::lock_guard<std::mutex> lock(mu_);
    if (bearer_) {
      auto it = tokens_.find(scope);
      if (it != tokens_.end() && Clock::now() < it->second.expires) return "Bearer " + it->second.token;
      return "";
    }
    if (basic_ && !options_.credentials.empty()) {
      return "Basic " + coding::Base64Encode(options_.credentials.username + ":" + options_.credentials.password);
    }
    return "";
  }

  // Reacts to a 401: learns the scheme; for bearer, fetches a token for `scope`.
  Status Authenticate(const http::Response& r, const std::string& scope, const std::string& what) {
    std::string header = r.Header("WWW-Authenticate");
    if (header.empty()) return Status::Unauthenticated(what + ": HTTP 401 without a challenge");
    SL_ASSIGN_OR_RETURN(Challenge c, ParseChallenge(header));
    if (c.scheme == "basic") {
      if (options_.credentials.empty()) {
        return Status::Unauthenticated(what + ": registry requires credentials (none given)");
      }
      std::lock_guard<std::mutex> lock(mu_);
      basic_ = true;
      return Status::Ok();
    }
    if (c.scheme != "bearer") return Status::NotSupported(what + ": auth scheme '" + c.scheme + "'");
    std::string realm = c.Param("realm");
    if (realm.empty()) return Status::Unauthenticated(what + ": bearer challenge without realm");
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    url += "service=" + http::QueryEscape(c.Param("service"));
    // Ask for what this request needs (scope may hold several, space-separated).
    size_t i = 0;
    while (i < scope.size()) {
      size_t sp = scope.find(' ', i);
      if (sp == std::string::npos) sp = scope.size();
      url += "&scope=" + http::QueryEscape(scope.substr(i, sp - i));
      i = sp + 1;
    }
    http::Request tr;
    tr.url = url;
    if (!options_.credentials.empty()) {
      tr.headers = {{"Authorization", "Basic " + coding::Base64Encode(options_.credentials.username + ":" +
                                                          options_.credentials.password)}};
    }
    ++token_fetches_;
    ++requests_;
    SL_ASSIGN_OR_RETURN(http::Response t, http_->Send(tr));
    if (t.status != 200) {
      Status s = StatusFor(t, "token from " + realm);
      if (t.status == 401) return Status::Unauthenticated(what + ": token service refused the credentials");
      return s;
    }
    std::string token;
    int64_t expires_in = 60;
    try {
      auto j = nlohmann::json::parse(t.body);
      token = j.value("token", "");
      if (token.empty()) token = j.value("access_token", "");
      if (j.contains("expires_in") && j["expires_in"].is_number()) expires_in = j["expires_in"].get<int64_t>();
    } catch (const std::exception& e) {
      return Status::Unauthenticated(what + ": bad token response: " + e.what());
    }
    if (token.empty()) return Status::Unauthenticated(what + ": token response without a token");
    std::lock_guard<std::mutex> lock(mu_);
    bearer_ = true;
    // Refresh a little early so a token never expires between check and use.
    int64_t margin = std::min<int64_t>(10, expires_in / 4);
    tokens_[scope] = {token, Clock::now() + std::chrono::seconds(std::max<int64_t>(1, expires_in - margin))};
    return Status::Ok();
  }

  // One logical request: authorization (one challenge round) and nothing else.
  Result<http::Response> DoOnce(http::Request req, const std::string& scope, const std::string& what) {
    http::Headers base_headers = req.headers;
    for (int round = 0; round < 2; ++round) {
      req.headers = base_headers;
      if (std::string a = AuthHeader(scope); !a.empty()) req.headers.emplace_back("Authorization", a);
      ++requests_;
      SL_ASSIGN_OR_RETURN(http::Response r, http_->Send(req));
      if (r.status != 401 || round == 1) return r;
      if (r.url.rfind(base_, 0) != 0) return r;  // 401 from blob storage: the caller decides
      SL_RETURN_IF_ERROR(Authenticate(r, scope, what));
    }
    return Status::Internal("unreachable");
  }

  // A logical request with retries on transient failures (no streamed body: safe to repeat).
  Result<http::Response> Do(const http::Request& req, const std::string& scope, const std::string& what) {
    for (int attempt = 0;; ++attempt) {
      auto r = DoOnce(req, scope, what);
      bool retry = (!r.ok() && r.status().code() == Code::kUnavailable) ||
                   (r.ok() && (Transient(r->status) || RedirectExpired(*r)));
      if (!retry || attempt + 1 >= options_.max_attempts) {
        if (!r.ok()) return r.status().WithContext(what);
        return r;
      }
      Backoff(attempt, r.ok() ? r->Header("Retry-After") : "");
    }
  }

  std::string registry_;
  ClientOptions options_;
  std::string base_;
  std::unique_ptr<http::Client> http_;
  std::atomic<uint64_t> token_fetches_{0}, requests_{0};

  struct Token {
    std::string token;
    Clock::time_point expires;
  };
  std::mutex mu_;  // guards bearer_, basic_, tokens_
  bool bearer_ = false, basic_ = false;
  std::map<std::string, Token> tokens_;
};

class BlobReader : public io::RandomAccessReader {
 public:
  BlobReader(RegistryClient* c, std::string repo, digest::Digest d, uint64_t size)
      : c_(c), repo_(std::move(repo)), d_(d), size_(size) {}
  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    SL_ASSIGN_OR_RETURN(std::string s, c_->FetchBlobRange(repo_, d_, offset, n));
    std::copy(s.begin(), s.end(), buf);
    return s.size();
  }
  uint64_t Size() const override { return size_; }

 private:
  RegistryClient* c_;
  std::string repo_;
  digest::Digest d_;
  uint64_t size_;
};

}  // namespace

std::unique_ptr<RegistryClient> NewRegistryClient(const std::string& registry, const ClientOptions& options) {
  return std::make_unique<Client>(registry, options);
}

std::unique_ptr<io::RandomAccessReader> NewBlobReader(RegistryClient* client, std::string repo,
                                                      digest::Digest d, uint64_t size) {
  return std::make_unique<BlobReader>(client, std::move(repo), d, size);
}

}  // namespace starlight::registry
