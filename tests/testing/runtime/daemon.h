// A long-running daemon process bound to a RuntimeDir (internal to tests/testing/runtime): the
// common part of DockerdFixture and ContainerdFixture. Started in its own process group with
// its output in a log file inside the directory; stopped with SIGTERM, a bounded wait and
// SIGKILL, after which the RuntimeDir's teardown removes everything the daemon left. Not
// thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status/status.h"
#include "tests/testing/runtime/command.h"
#include "tests/testing/runtime/runtime_dir.h"

namespace starlight::testing::runtime_internal {

class Daemon {
 public:
  // `name` is for messages ("dockerd"); the log is dir/<name>.log.
  Daemon(std::string name, std::unique_ptr<RuntimeDir> dir);
  ~Daemon();  // Stop(); problems are printed to stderr
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  RuntimeDir& dir() { return *dir_; }
  const RuntimeDir& dir() const { return *dir_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return pid_; }
  std::string LogTail(size_t max_bytes) const;

  // Spawns argv (argv[0] absolute) and calls `probe` every 100 ms until it answers with exit
  // code 0, the daemon exits or `timeout` passes. On failure the daemon is stopped and the
  // directory cleaned up; the message carries the tail of the log.
  Status Start(const std::vector<std::string>& argv,
               const std::function<Result<CommandResult>()>& probe,
               std::chrono::milliseconds timeout);
  void Kill();  // SIGKILL to the daemon's process group; reaps it
  // Stops the daemon (SIGTERM, `grace`, SIGKILL) and cleans up the directory. Idempotent.
  Status Stop(std::chrono::milliseconds grace);

 private:
  std::string name_;
  std::unique_ptr<RuntimeDir> dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::string saved_log_;  // the log's tail, kept when the directory goes
  bool stopped_ = false;
};

// Environment variables a daemon or client must not inherit (they would redirect it).
std::vector<std::string> DroppedEnvPrefixes();

}  // namespace starlight::testing::runtime_internal
