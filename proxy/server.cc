#include "proxy/server.h"

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/http/client.h"
#include "core/io/writer.h"
#include "core/log/log.h"
#include "proxy/inspect.h"

namespace starlight::proxy {
namespace {

using nlohmann::json;

int HttpStatus(Code c) {
  switch (c) {
    case Code::kNotFound:
      return 404;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// The wire form of a code: "not found" -> "NOT_FOUND".
std::string WireCode(Code c) {
  std::string s(CodeName(c));
  for (char& ch : s)
    ch = ch == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

json ErrorJson(const Status& s) { return {{"code", WireCode(s.code())}, {"message", s.message()}}; }

void SendError(httplib::Response& res, const Status& s) {
  res.status = HttpStatus(s.code());
  res.set_content(json{{"error", ErrorJson(s)}}.dump(), "application/json");
}

json ReportJson(const hook::IngestReport& r) {
  return {{"repository", r.repository},
          {"tag", r.tag},
          {"digest", r.digest.ToString()},
          {"kind", r.is_index ? "index" : "manifest"},
          {"manifests", r.manifests},
          {"manifests_known", r.manifests_known},
          {"layers_new", r.layers_new},
          {"layers_known", r.layers_known},
          {"layers_not_seekable", r.layers_not_seekable},
          {"bytes_fetched", r.bytes_fetched},
          {"new_layer_bytes", r.new_layer_bytes},
          {"entries", r.files},
          {"seconds", r.seconds},
          {"summary", hook::DescribeIngestReport(r)}};
}

Result<std::pair<std::string, int>> SplitHostPort(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("listen address '" + listen + "' is not host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return Status::InvalidArgument("listen address '" + listen + "' has no valid port");
  }
  if (port < 0 || port > 65535)
    return Status::InvalidArgument("listen port out of range in '" + listen + "'");
  return std::make_pair(host, port);
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  hook::HookService* hook;
  dirdb::DirectoryDb* db;
  httplib::Server http;
  std::thread thread;
  std::string url;

  bool Admin(const httplib::Request& req, httplib::Response& res) {
    if (hook::CheckBearer(req.get_header_value("Authorization"), options.admin_token)) return true;
    res.set_header("WWW-Authenticate", "Bearer realm=\"starlight-proxy admin\"");
    SendError(res, Status::Unauthenticated("missing or wrong admin token"));
    return false;
  }

  void Routes() {
    http.Post("/v1/registry/events", [this](const httplib::Request& req, httplib::Response& res) {
      hook::Reply r = hook->HandleEvents(req.get_header_value("Authorization"),
                                         req.get_header_value("Content-Type"), req.body);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      res.set_content(r.body, "application/json");
    });
    http.Post("/v1/admin/ingest", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Admin(req, res)) return;
      std::vector<std::pair<std::string, std::string>> refs;
      std::vector<std::string> names;
      int timeout = 600;
      try {
        json body = json::parse(req.body);
        if (!body.contains("refs") || !body["refs"].is_array() || body["refs"].empty()) {
          return SendError(res, Status::InvalidArgument("body needs a non-empty \"refs\" array"));
        }
        if (body.contains("timeout_seconds")) timeout = body["timeout_seconds"].get<int>();
        for (const auto& r : body["refs"]) {
          std::string s = r.get<std::string>();
          auto parsed = ParseRepoRef(s, options.upstream);
          if (!parsed.ok()) return SendError(res, parsed.status());
          refs.emplace_back(parsed->repository, parsed->reference);
          names.push_back(s);
        }
      } catch (const json::exception& e) {
        return SendError(res,
                         Status::InvalidArgument(std::string("malformed request: ") + e.what()));
      }
      log::Info("admin: ingest of " + std::to_string(refs.size()) + " reference(s) requested");
      auto results = hook->IngestAndWait(refs, std::chrono::seconds(timeout));
      json out = json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        json r = {{"ref", names[i]}, {"ok", results[i].status.ok()}};
        if (results[i].status.ok())
          r["report"] = ReportJson(results[i].report);
        else
          r["error"] = ErrorJson(results[i].status);
        out.push_back(std::move(r));
      }
      res.set_content(json{{"results", out}}.dump(), "application/json");
    });
    http.Get(R"(/v1/admin/db/(images|show|stats))",
             [this](const httplib::Request& req, httplib::Response& res) {
               if (!Admin(req, res)) return;
               bool as_json = req.get_param_value("format") == "json";
               std::string what = req.matches[1];
               Result<std::string> out = Status::Internal("unreachable");
               if (what == "images") {
                 out = RenderImages(db, as_json);
               } else if (what == "stats") {
                 out = RenderStats(db, as_json);
               } else {
                 auto ref = ParseRepoRef(req.get_param_value("ref"), options.upstream);
                 if (!ref.ok()) return SendError(res, ref.status());
                 out = RenderShow(db, *ref, as_json);
               }
               if (!out.ok()) return SendError(res, out.status());
               res.set_content(*out, as_json ? "application/json" : "text/plain; charset=utf-8");
             });
    http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"status", "ok"}, {"queue_depth", hook->queue_depth()}}.dump(),
                      "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(hook->Metrics(), "text/plain; version=0.0.4");
    });
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      log::Debug("http: " + req.method + " " + req.path + " -> " + std::to_string(res.status));
    });
    http.set_payload_max_length(hook::kMaxEnvelopeBytes + 1);
  }
};

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, hook::HookService* hook,
                                              dirdb::DirectoryDb* db) {
  if (options.admin_token.empty()) return Status::InvalidArgument("the admin token is empty");
  SL_ASSIGN_OR_RETURN(auto hp, SplitHostPort(options.listen));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->hook = hook;
  impl->db = db;
  int threads = std::max(2, options.http_threads);
  impl->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl->Routes();
  int port = hp.second;
  if (port == 0) {
    port = impl->http.bind_to_any_port(hp.first);
    if (port < 0) return Status::Unavailable("cannot listen on " + options.listen);
  } else if (!impl->http.bind_to_port(hp.first, port)) {
    return Status::Unavailable("cannot listen on " + options.listen +
                               ": address in use or not permitted");
  }
  std::string host = hp.first.find(':') != std::string::npos ? "[" + hp.first + "]" : hp.first;
  impl->url = "http://" + host + ":" + std::to_string(port);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->http.listen_after_bind(); });
  if (!options.ready_file.empty()) {
    Status s = io::WriteFileAtomic(options.ready_file, impl->url + "\n");
    if (!s.ok()) {
      impl->http.stop();
      impl->thread.join();
      return s.WithContext("writing the ready file");
    }
  }
  log::Info("proxy: listening on " + impl->url);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }
std::string Server::url() const { return impl_->url; }

void Server::Stop() {
  if (impl_->thread.joinable()) {
    impl_->http.stop();
    impl_->thread.join();
  }
}

namespace {

Result<http::Response> AdminSend(const AdminClientOptions& o, http::Request req) {
  http::ClientOptions co;
  co.connect_timeout_seconds = 5;
  co.read_timeout_seconds = o.timeout_seconds;
  auto client = http::NewClient(co);
  req.headers.emplace_back("Authorization", "Bearer " + o.token);
  SL_ASSIGN_OR_RETURN(http::Response res, client->Send(req));
  if (res.status / 100 != 2) {
    std::string message = "HTTP " + std::to_string(res.status);
    try {
      json j = json::parse(res.body);
      message = j["error"]["message"].get<std::string>();
    } catch (...) {
    }
    Code code = res.status == 404   ? Code::kNotFound
                : res.status == 400 ? Code::kInvalidArgument
                : res.status == 401 ? Code::kUnauthenticated
                                    : Code::kInternal;
    return Status(code, "proxy at " + o.url + ": " + message);
  }
  return res;
}

}  // namespace

Result<std::string> AdminGet(const AdminClientOptions& o, const std::string& what,
                             const std::string& ref, bool json) {
  http::Request req;
  req.url = o.url + "/v1/admin/db/" + what + "?format=" + (json ? "json" : "text");
  if (!ref.empty()) req.url += "&ref=" + http::QueryEscape(ref);
  SL_ASSIGN_OR_RETURN(http::Response res, AdminSend(o, std::move(req)));
  return res.body;
}

Result<std::string> AdminIngest(const AdminClientOptions& o, const std::vector<std::string>& refs) {
  http::Request req;
  req.method = "POST";
  req.url = o.url + "/v1/admin/ingest";
  req.content_type = "application/json";
  req.body = json{{"refs", refs}, {"timeout_seconds", o.timeout_seconds}}.dump();
  SL_ASSIGN_OR_RETURN(http::Response res, AdminSend(o, std::move(req)));
  return res.body;
}

}  // namespace starlight::proxy
