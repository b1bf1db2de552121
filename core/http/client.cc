#include "core/http/client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

namespace starlight::http {

namespace {

// Largest 2xx body kept in Response::body (bodies that may be larger go to on_body).
constexpr size_t kMaxBufferedBody = 256u << 20;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

std::string FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return "";
}

std::string Url::Origin() const {
  bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Url> ParseUrl(std::string_view s) {
  Url u;
  size_t p = s.find("://");
  if (p == std::string_view::npos) return Status::InvalidArgument("not an absolute URL: " + std::string(s));
  u.scheme = std::string(s.substr(0, p));
  for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") {
    return Status::InvalidArgument("unsupported URL scheme: " + std::string(s));
  }
  s.remove_prefix(p + 3);
  size_t slash = s.find_first_of("/?");
  std::string_view authority = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  if (!u.target.empty() && u.target[0] == '?') u.target = "/" + u.target;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("bad IPv6 host in URL");
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return Status::InvalidArgument("URL without host");
  if (port.empty()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    int v = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || v > 65535) return Status::InvalidArgument("bad port in URL");
      v = v * 10 + (c - '0');
    }
    if (v <= 0 || v > 65535) return Status::InvalidArgument("bad port in URL");
    u.port = v;
  }
  return u;
}

Result<std::string> ResolveUrl(const Url& base, std::string_view loc) {
  if (loc.find("://") != std::string_view::npos) return std::string(loc);
  if (loc.substr(0, 2) == "//") return base.scheme + ":" + std::string(loc);
  if (!loc.empty() && loc[0] == '/') return base.Origin() + std::string(loc);
  std::string path = base.target.substr(0, base.target.find('?'));
  path = path.substr(0, path.rfind('/') + 1);
  return base.Origin() + path + std::string(loc);
}

std::string QueryEscape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

namespace {

class HttplibClient : public Client {
 public:
  explicit HttplibClient(ClientOptions options) : options_(std::move(options)) {}

  Result<Response> Send(const Request& request) override {
    std::string url = request.url;
    Headers headers = request.headers;
    SL_ASSIGN_OR_RETURN(Url first, ParseUrl(url));
    for (int hop = 0;; ++hop) {
      SL_ASSIGN_OR_RETURN(Url u, ParseUrl(url));
      if (u.Origin() != first.Origin()) {
        // Never leak registry credentials to blob storage or anywhere else.
        headers.erase(std::remove_if(headers.begin(), headers.end(),
                                     [](const auto& h) { return IEquals(h.first, "Authorization"); }),
                      headers.end());
      }
      SL_ASSIGN_OR_RETURN(Response r, SendOnce(request, u, headers));
      r.url = url;
      bool redirect = r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 ||
                      r.status == 308;
      if (!request.follow_redirects || !redirect) return r;
      if (hop >= 10) return Status::Unavailable("too many redirects from " + request.url);
      std::string loc = r.Header("Location");
      if (loc.empty()) return Status::Unavailable("redirect without Location from " + url);
      SL_ASSIGN_OR_RETURN(url, ResolveUrl(u, loc));
    }
  }

 private:
  struct Pool {
    std::mutex mu;
    std::vector<std::unique_ptr<httplib::Client>> idle;
  };

  std::unique_ptr<httplib::Client> Acquire(const Url& u) {
    Pool* pool;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& p = pools_[u.Origin()];
      if (!p) p = std::make_unique<Pool>();
      pool = p.get();
    }
    {
      std::lock_guard<std::mutex> lock(pool->mu);
      if (!pool->idle.empty()) {
        auto c = std::move(pool->idle.back());
        pool->idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(u.Origin());
    c->set_keep_alive(true);
    c->set_follow_location(false);
    c->set_connection_timeout(options_.connect_timeout_seconds, 0);
    c->set_read_timeout(options_.read_timeout_seconds, 0);
    c->set_write_timeout(options_.read_timeout_seconds, 0);
    if (u.scheme == "https") {
      if (!options_.ca_cert_file.empty()) c->set_ca_cert_path(options_.ca_cert_file);
      c->enable_server_certificate_verification(!options_.insecure_skip_tls_verify);
    }
    return c;
  }

  void Release(const Url& u, std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> lock(mu_);
    Pool* pool = pools_[u.Origin()].get();
    std::lock_guard<std::mutex> plock(pool->mu);
    if (pool->idle.size() < 16) pool->idle.push_back(std::move(c));
  }

  Result<Response> SendOnce(const Request& request, const Url& u, const Headers& headers) {
    auto client = Acquire(u);
    httplib::Headers h;
    for (const auto& [k, v] : headers) h.emplace(k, v);
    if (FindHeader(headers, "User-Agent").empty()) h.emplace("User-Agent", options_.user_agent);

    Response out;
    Status body_status;
    httplib::Result res{nullptr, httplib::Error::Unknown};
    bool is_2xx = false;
    auto on_response = [&](const httplib::Response& r) {
      is_2xx = r.status >= 200 && r.status < 300;
      if (request.on_response) {
        Headers hs;
        for (const auto& [k, v] : r.headers) hs.emplace_back(k, v);
        request.on_response(r.status, hs);
      }
      return true;
    };
    auto receiver = [&](const char* data, size_t n) {
      if (is_2xx && request.on_body) {
        body_status = request.on_body(std::string_view(data, n));
        return body_status.ok();
      }
      if (is_2xx) {
        // Buffered 2xx bodies are whole or an error, never silently cut.
        if (out.body.size() + n > kMaxBufferedBody) {
          body_status = Status::InvalidArgument("response body larger than " + std::to_string(kMaxBufferedBody) +
                                                " bytes (stream it with on_body)");
          return false;
        }
        out.body.append(data, n);
      } else if (out.body.size() < (1u << 20)) {
        out.body.append(data, n);  // error bodies: the first MiB is enough to explain them
      }
      return true;
    };
    const std::string& m = request.method;
    std::string ctype = request.content_type.empty() ? "application/octet-stream" : request.content_type;
    if (m == "GET" || m == "HEAD" || m == "DELETE") {
      httplib::Request req;
      req.method = m;
      req.path = u.target;
      req.headers = h;
      if (m == "GET") {
        req.response_handler = on_response;
        req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) { return receiver(d, n); };
      }
      httplib::Response resp;
      httplib::Error err = httplib::Error::Success;
      bool ok = client->send(req, resp, err);
      res = httplib::Result(ok ? std::make_unique<httplib::Response>(std::move(resp)) : nullptr, err);
      if (ok && m != "GET") out.body = res->body;
    } else if (m == "PUT" || m == "POST" || m == "PATCH") {
      if (request.body_reader) {
        const io::RandomAccessReader* r = request.body_reader;
        uint64_t base = request.body_offset;
        Status read_status;
        auto provider = [&, r, base](size_t offset, size_t length, httplib::DataSink& sink) {
          std::string buf(std::min<size_t>(length, 1 << 20), '\0');
          auto got = r->ReadAt(base + offset, buf.data(), buf.size());
          if (!got.ok() || *got == 0) {
            read_status = got.ok() ? Status::IoError("upload source ended early") : got.status();
            return false;
          }
          return sink.write(buf.data(), *got);
        };
        size_t len = static_cast<size_t>(request.body_length);
        if (m == "PUT") res = client->Put(u.target, h, len, provider, ctype);
        else if (m == "POST") res = client->Post(u.target, h, len, provider, ctype);
        else res = client->Patch(u.target, h, len, provider, ctype);
        if (!read_status.ok()) return read_status;
      } else {
        if (m == "PUT") res = client->Put(u.target, h, request.body, ctype);
        else if (m == "POST") res = client->Post(u.target, h, request.body, ctype);
        else res = client->Patch(u.target, h, request.body, ctype);
      }
      if (res) out.body = res->body;
    } else {
      return Status::InvalidArgument("unsupported HTTP method " + m);
    }
    if (!body_status.ok()) return body_status;
    if (!res) {
      return Status::Unavailable(m + " " + u.Origin() + u.target + ": " + httplib::to_string(res.error()));
    }
    out.status = res->status;
    for (const auto& [k, v] : res->headers) out.headers.emplace_back(k, v);
    std::string conn = res->get_header_value("Connection");
    if (!IEquals(conn, "close")) Release(u, std::move(client));
    return out;
  }

  ClientOptions options_;
  std::mutex mu_;  // guards pools_ (each Pool has its own mutex; lock order: mu_ then Pool::mu)
  std::map<std::string, std::unique_ptr<Pool>> pools_;
};

}  // namespace

std::unique_ptr<Client> NewClient(const ClientOptions& options) {
  return std::make_unique<HttplibClient>(options);
}

}  // namespace starlight::http
