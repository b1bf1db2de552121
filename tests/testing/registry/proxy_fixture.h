// ProxyFixture: the real `starlight-proxy serve` binary started for a test on a free loopback
// port, with its TOML config, directory DB and log in a temporary directory, pointed at an
// upstream registry (usually a RegistryFixture). Kill() is a crash (SIGKILL); Restart() starts
// it again on the same port with the same config and DB. Cli() runs the binary's other
// commands with the same config (they reach the running proxy through its admin API).
// Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status/status.h"
#include "tests/testing/subprocess.h"

namespace starlight::testing {

struct ProxyOptions {
  std::string binary;    // path of starlight-proxy (REQUIRES)
  std::string upstream;  // registry host:port (plain HTTP)
  std::string webhook_secret = "starlight-test-webhook-secret";
  std::string admin_token = "starlight-test-admin-token";
  std::string convert_suffix;  // --convert-on-push
  int workers = 2;
  int retry_backoff_ms = 200;  // first retry delay of a failed ingestion
  int retry_max_seconds = 2;   // cap of the delay
  int ready_timeout_seconds = 15;
};

class ProxyFixture {
 public:
  static Result<std::unique_ptr<ProxyFixture>> Start(const ProxyOptions& options);
  ~ProxyFixture();
  ProxyFixture(const ProxyFixture&) = delete;
  ProxyFixture& operator=(const ProxyFixture&) = delete;

  std::string url() const;         // "http://127.0.0.1:PORT"
  std::string events_url() const;  // url() + "/v1/registry/events"
  std::string config_path() const;
  std::string db_dir() const;
  std::string log_path() const;
  const ProxyOptions& options() const;
  ProxyOptions* mutable_options();  // takes effect at the next Restart()
  int pid() const;                  // -1 while not running

  void Kill();
  Status Restart();
  // `starlight-proxy --config CONFIG args...`.
  RunResult Cli(const std::vector<std::string>& args) const;

 private:
  struct Impl;
  explicit ProxyFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
