// DockerdFixture: a real Docker daemon (Debian's docker.io, dockerd 20.10) started for a test
// with all its state in a RuntimeDir (/tmp/slrt-XXXXXX): --data-root, --exec-root, its own
// unix socket and --pidfile; no bridge, no iptables, no ip_forward change (containers run with
// `--network none`); containers go to cgroups under /<dir name>. dockerd starts its own
// containerd (state under the exec-root). Registries on 127.0.0.0/8 need no TLS.
//
// The daemon runs in its own process group and is SIGKILLed if the thread that started it dies
// (start it from the test's main thread). Stop() (and the destructor) stops dockerd (SIGTERM,
// bounded wait, SIGKILL), then kills whatever it left (its containerd, shims, runc, containers),
// unmounts everything below the directory and removes it. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status/status.h"
#include "tests/testing/runtime/command.h"
#include "tests/testing/runtime/runtime_dir.h"

namespace starlight::testing {

struct DockerdOptions {
  std::string dockerd_binary = "dockerd";  // absolute, or looked up in $PATH
  // The client that matches Debian's daemon (/usr/local/bin may hold another one); $PATH's
  // `docker` when this one does not exist.
  std::string docker_binary = "/usr/bin/docker";
  std::vector<std::string> extra_args;  // appended to dockerd's command line
  std::chrono::seconds ready_timeout{60};
  std::chrono::seconds stop_timeout{30};  // SIGTERM -> SIGKILL
};

class DockerdFixture {
 public:
  // Starts dockerd and returns once the API answers (`docker version`). On failure nothing is
  // left running; the message carries the tail of dockerd's log.
  static Result<std::unique_ptr<DockerdFixture>> Start(const DockerdOptions& options = {});
  ~DockerdFixture();
  DockerdFixture(const DockerdFixture&) = delete;
  DockerdFixture& operator=(const DockerdFixture&) = delete;

  const std::string& temp_dir() const;
  std::string socket_path() const;  // the API socket
  std::string host() const;         // "unix://" + socket_path()
  std::string log_path() const;     // dockerd's stdout+stderr
  pid_t pid() const;                // -1 once stopped
  // The last bytes of dockerd's log (kept after Stop() removed the directory).
  std::string LogTail(size_t max_bytes = 4096) const;

  // Runs `docker -H unix://SOCK --config DIR args...` (DIR: an empty client config in the
  // temporary directory, so the user's credentials and settings play no part).
  Result<CommandResult> Docker(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::minutes(5));

  // SIGKILLs dockerd, as a crash would: its containerd dies with it, shims and containers stay
  // until Stop().
  void Kill();
  // Stops dockerd and cleans up everything it left. Idempotent; reports what could not be
  // cleaned (processes, mounts, cgroups, the directory).
  Status Stop();

 private:
  struct Impl;
  explicit DockerdFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
