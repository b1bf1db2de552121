// starlight-proxy: flags and config file -> options, run the proxy's pieces, map the result to
// an exit code and a one-line message. Exit codes: 0 ok, 1 error, 3 usage error.
//
//   serve              the registry hook (POST /v1/registry/events), admin API, /healthz, /metrics
//   ingest REF...      manual ingestion: through the running proxy's admin API when one holds
//                      the DB, otherwise directly on the DB
//   db images|show|stats   inspection (same choice of path)
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "converter/image.h"
#include "core/dirdb/dirdb.h"
#include "core/log/log.h"
#include "core/registry/client.h"
#include "proxy/inspect.h"
#include "proxy/server.h"
#include "registry-hook/ingest.h"
#include "registry-hook/service.h"

namespace {

using namespace starlight;

struct Options {
  std::string db_path = "/var/lib/starlight/proxy-db";
  std::string upstream;
  bool plain_http = false;
  std::string username, password, authfile, ca_cert;
  bool insecure = false;
  std::string log_level = "info";
  std::string admin_token, proxy_url;
  // serve
  std::string listen = "127.0.0.1:5080";
  std::string webhook_secret;
  int workers = 2;
  int http_threads = 8;
  std::string convert_suffix;
  std::string ready_file;
  int retry_backoff_ms = 1000;
  int retry_max_seconds = 300;
  // ingest / db
  std::vector<std::string> refs;
  std::string ref;
  bool json = false;
  int timeout_seconds = 600;
};

int Fail(const Status& s) {
  std::fprintf(stderr, "starlight-proxy: %s\n", s.ToString().c_str());
  return 1;
}

Result<registry::ClientOptions> RegistryOptions(const Options& o) {
  registry::ClientOptions c;
  c.plain_http = o.plain_http;
  c.ca_cert_file = o.ca_cert;
  c.insecure_skip_tls_verify = o.insecure;
  c.credentials = {o.username, o.password};
  if (c.credentials.empty()) {
    SL_ASSIGN_OR_RETURN(c.credentials, registry::LoadDockerCredentials(o.upstream, o.authfile));
  }
  return c;
}

std::string AdminToken(const Options& o) {
  return o.admin_token.empty() ? o.webhook_secret : o.admin_token;
}

std::string ProxyUrl(const Options& o) {
  if (!o.proxy_url.empty()) return o.proxy_url;
  std::string l = o.listen;
  if (l.rfind("0.0.0.0:", 0) == 0) l = "127.0.0.1:" + l.substr(8);
  if (l.rfind(":", 0) == 0) l = "127.0.0.1" + l;
  return "http://" + l;
}

// SIGINT/SIGTERM are blocked in every thread (the mask is inherited by the threads started
// after it is set) and taken synchronously by the main thread with sigwait.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int Serve(const Options& o) {
  sigset_t stop_signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (o.upstream.empty())
    return Fail(Status::InvalidArgument("--upstream (the registry's host:port) is required"));
  if (o.webhook_secret.empty()) {
    return Fail(
        Status::InvalidArgument("--webhook-secret (or STARLIGHT_WEBHOOK_SECRET) is required"));
  }
  auto ro = RegistryOptions(o);
  if (!ro.ok()) return Fail(ro.status());
  auto db = dirdb::OpenLevelDb(o.db_path);
  if (!db.ok()) return Fail(db.status().WithContext("opening the directory DB " + o.db_path));
  auto client = registry::NewRegistryClient(o.upstream, *ro);

  hook::ServiceOptions so;
  so.webhook_secret = o.webhook_secret;
  so.workers = o.workers;
  so.convert_suffix = o.convert_suffix;
  so.initial_backoff = std::chrono::milliseconds(o.retry_backoff_ms);
  so.max_backoff = std::chrono::seconds(o.retry_max_seconds);
  if (!o.convert_suffix.empty()) {
    so.convert = [&o, ro = *ro](const std::string& repo, const std::string& from,
                                const std::string& to) {
      converter::ImageOptions io;
      io.source = "docker://" + o.upstream + "/" + repo + ":" + from;
      io.destination = "docker://" + o.upstream + "/" + repo + ":" + to;
      io.source_store.registry = ro;
      io.destination_store.registry = ro;
      io.source_store.authfile = io.destination_store.authfile = o.authfile;
      auto r = converter::ConvertImage(io);
      if (!r.ok()) return r.status();
      log::Info("convert-on-push: " + converter::DescribeImageReport(io, *r));
      return Status::Ok();
    };
  }
  hook::HookService service(db->get(), client.get(), so);
  if (Status s = service.Start(); !s.ok()) return Fail(s);

  proxy::ServerOptions po;
  po.listen = o.listen;
  po.admin_token = AdminToken(o);
  po.upstream = o.upstream;
  po.ready_file = o.ready_file;
  po.http_threads = o.http_threads;
  auto server = proxy::Server::Start(po, &service, db->get());
  if (!server.ok()) return Fail(server.status());
  log::Info("proxy: upstream registry " + o.upstream + ", directory DB " + o.db_path + ", " +
            std::to_string(o.workers) + " ingest worker(s)" +
            (o.convert_suffix.empty() ? "" : ", convert-on-push suffix " + o.convert_suffix));
  sigset_t stop = StopSignals();
  int sig = 0;
  sigwait(&stop, &sig);
  log::Info("proxy: stopping");
  (*server)->Stop();
  service.Stop();
  log::Info("proxy: stopped");
  return 0;
}

// Opens the DB for a CLI command, or says that a running proxy holds it.
Result<std::unique_ptr<dirdb::DirectoryDb>> OpenForCli(const Options& o, bool create,
                                                       bool* locked) {
  *locked = false;
  dirdb::LevelDbOptions lo;
  lo.create_if_missing = create;
  auto db = dirdb::OpenLevelDb(o.db_path, lo);
  if (!db.ok() && db.status().code() == Code::kFailedPrecondition) {
    *locked = true;
    return db.status();
  }
  if (!db.ok()) return db.status().WithContext("opening the directory DB " + o.db_path);
  return std::move(*db);
}

int Ingest(const Options& o) {
  bool locked = false;
  std::unique_ptr<dirdb::DirectoryDb> db;
  if (o.proxy_url.empty()) {
    auto opened = OpenForCli(o, true, &locked);
    if (!opened.ok() && !locked) return Fail(opened.status());
    if (opened.ok()) db = std::move(*opened);
  }
  if (!db) {
    log::Info("ingest: the directory DB is held by a running proxy; asking it at " + ProxyUrl(o));
    auto out = proxy::AdminIngest({ProxyUrl(o), AdminToken(o), o.timeout_seconds}, o.refs);
    if (!out.ok()) return Fail(out.status());
    int failed = 0;
    try {
      auto j = nlohmann::json::parse(*out);
      for (const auto& r : j["results"]) {
        if (r["ok"].get<bool>()) {
          std::printf("%s\n", r["report"]["summary"].get<std::string>().c_str());
        } else {
          ++failed;
          std::fprintf(stderr, "starlight-proxy: %s: %s\n", r["ref"].get<std::string>().c_str(),
                       r["error"]["message"].get<std::string>().c_str());
        }
      }
    } catch (const nlohmann::json::exception& e) {
      return Fail(Status::Corruption(std::string("unreadable answer from the proxy: ") + e.what()));
    }
    return failed ? 1 : 0;
  }
  if (o.upstream.empty())
    return Fail(Status::InvalidArgument("--upstream (the registry's host:port) is required"));
  auto ro = RegistryOptions(o);
  if (!ro.ok()) return Fail(ro.status());
  auto client = registry::NewRegistryClient(o.upstream, *ro);
  hook::Ingester ingester(client.get(), db.get());
  int failed = 0;
  for (const auto& s : o.refs) {
    auto ref = proxy::ParseRepoRef(s, o.upstream);
    if (!ref.ok()) return Fail(ref.status());
    dirdb::WriteBatch batch;
    log::Info("ingest: " + ref->repository + " " + ref->reference);
    auto report = ingester.Ingest(ref->repository, ref->reference, &batch);
    Status st = report.ok() ? db->Commit(batch) : report.status();
    if (!st.ok()) {
      ++failed;
      std::fprintf(stderr, "starlight-proxy: %s: %s\n", s.c_str(), st.ToString().c_str());
      continue;
    }
    std::printf("%s\n", hook::DescribeIngestReport(*report).c_str());
  }
  return failed ? 1 : 0;
}

int Db(const Options& o, const std::string& what) {
  bool locked = false;
  std::unique_ptr<dirdb::DirectoryDb> db;
  if (o.proxy_url.empty()) {
    auto opened = OpenForCli(o, false, &locked);
    if (!opened.ok() && !locked) return Fail(opened.status());
    if (opened.ok()) db = std::move(*opened);
  }
  Result<std::string> out = Status::Internal("unreachable");
  if (!db) {
    out = proxy::AdminGet({ProxyUrl(o), AdminToken(o), o.timeout_seconds}, what, o.ref, o.json);
  } else if (what == "images") {
    out = proxy::RenderImages(db.get(), o.json);
  } else if (what == "stats") {
    out = proxy::RenderStats(db.get(), o.json);
  } else {
    auto ref = proxy::ParseRepoRef(o.ref, o.upstream);
    if (!ref.ok()) return Fail(ref.status());
    out = proxy::RenderShow(db.get(), *ref, o.json);
  }
  if (!out.ok()) return Fail(out.status());
  std::fwrite(out->data(), 1, out->size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "starlight-proxy: keeps the directory DB of a registry's images up to date from its push\n"
      "notifications (the registry hook), and lets you ingest and inspect images by hand.\n"
      "Options can also come from a config file (--config, TOML: key = value, [serve] section\n"
      "for serve's options)."};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "starlight-proxy 0.1");
  app.set_config("--config", "", "config file (TOML/INI)");
  Options o;
  app.add_option("--db", o.db_path, "directory DB (LevelDB directory)")->capture_default_str();
  app.add_option("--upstream", o.upstream, "the registry: host[:port]");
  app.add_flag("--plain-http", o.plain_http, "talk HTTP, not HTTPS, to the registry");
  app.add_option("--username", o.username, "registry user")->envname("STARLIGHT_REGISTRY_USERNAME");
  app.add_option("--password", o.password, "registry password")
      ->envname("STARLIGHT_REGISTRY_PASSWORD");
  app.add_option("--authfile", o.authfile, "Docker config.json with registry credentials");
  app.add_option("--ca-cert", o.ca_cert, "CA certificate (PEM) for the registry's TLS");
  app.add_flag("--insecure-skip-tls-verify", o.insecure,
               "do not verify the registry's certificate");
  app.add_option("--log-level", o.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--admin-token", o.admin_token,
                 "bearer token of the admin API (default: the webhook secret)")
      ->envname("STARLIGHT_ADMIN_TOKEN");
  app.add_option("--webhook-secret", o.webhook_secret,
                 "shared secret the registry sends as 'Authorization: Bearer SECRET'")
      ->envname("STARLIGHT_WEBHOOK_SECRET");
  app.add_option("--listen", o.listen, "serve: address to listen on (host:port, port 0: any)")
      ->capture_default_str();
  app.add_option(
      "--proxy-url", o.proxy_url,
      "ingest/db: ask the proxy at this URL instead of opening the DB (default: when the DB "
      "is locked by a running proxy, http://LISTEN)");

  auto* serve =
      app.add_subcommand("serve", "Run the registry hook, the admin API, /healthz and /metrics");
  serve->add_option("--workers", o.workers, "ingestion worker threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve->add_option("--http-threads", o.http_threads, "HTTP server threads")
      ->check(CLI::Range(2, 256))
      ->capture_default_str();
  serve->add_option("--convert-on-push", o.convert_suffix,
                    "when a non-seekable image is pushed as TAG, convert it and push TAG+SUFFIX");
  serve
      ->add_option(
          "--retry-backoff-ms", o.retry_backoff_ms,
          "first retry delay of an ingestion that failed on registry trouble (doubles per attempt)")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  serve->add_option("--retry-max-seconds", o.retry_max_seconds, "longest retry delay")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve->add_option("--ready-file", o.ready_file, "write the URL served here once listening");

  auto* ingest = app.add_subcommand(
      "ingest", "Ingest images (repo[:tag] or repo@digest) into the directory DB");
  ingest->add_option("REF", o.refs, "images to ingest")->required();
  ingest->add_option("--timeout", o.timeout_seconds, "seconds to wait for a running proxy")
      ->capture_default_str();

  auto* db = app.add_subcommand("db", "Inspect the directory DB");
  db->require_subcommand(1);
  auto* images = db->add_subcommand("images", "List tagged images");
  images->add_flag("--json", o.json, "JSON output");
  auto* show = db->add_subcommand("show", "Show one image: layers, ToCs, merged tree");
  show->add_option("REF", o.ref, "repo[:tag] or repo@digest")->required();
  show->add_flag("--json", o.json, "JSON output (with every layer's ToC and the merged tree)");
  auto* stats = db->add_subcommand("stats", "Counts and sizes of the directory DB");
  stats->add_flag("--json", o.json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 3;
  }
  log::Level level;
  log::ParseLevel(o.log_level, &level);
  log::SetLevel(level);
  if (serve->parsed()) return Serve(o);
  if (ingest->parsed()) return Ingest(o);
  if (images->parsed()) return Db(o, "images");
  if (show->parsed()) return Db(o, "show");
  if (stats->parsed()) return Db(o, "stats");
  return 3;
}
