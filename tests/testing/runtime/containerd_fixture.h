// ContainerdFixture: a real containerd (Debian's containerd 1.6) started for a test with a
// config that disables the CRI plugin (and the snapshotters and plugins this machine cannot or
// need not use) and puts `root`, `state` and the gRPC (and ttrpc) socket in a RuntimeDir
// (/tmp/slrt-XXXXXX). Clients use the namespace named after that directory.
//
// The daemon runs in its own process group and is SIGKILLed if the thread that started it dies
// (start it from the test's main thread). Stop() (and the destructor) stops containerd
// (SIGTERM, bounded wait, SIGKILL), then kills whatever it left (shims, runc, containers),
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

struct ContainerdOptions {
  std::string containerd_binary = "containerd";  // absolute, or looked up in $PATH
  std::string ctr_binary = "ctr";
  std::chrono::seconds ready_timeout{60};
  std::chrono::seconds stop_timeout{15};  // SIGTERM -> SIGKILL
};

class ContainerdFixture {
 public:
  // Starts containerd and returns once it answers (`ctr version`). On failure nothing is left
  // running; the message carries the tail of containerd's log.
  static Result<std::unique_ptr<ContainerdFixture>> Start(const ContainerdOptions& options = {});
  ~ContainerdFixture();
  ContainerdFixture(const ContainerdFixture&) = delete;
  ContainerdFixture& operator=(const ContainerdFixture&) = delete;

  const std::string& temp_dir() const;
  std::string address() const;         // the gRPC socket
  std::string namespace_name() const;  // "slrt-XXXXXX"
  std::string log_path() const;        // containerd's stdout+stderr
  pid_t pid() const;                   // -1 once stopped
  std::string LogTail(size_t max_bytes = 4096) const;

  // Runs `ctr -a SOCK -n NAMESPACE args...`.
  Result<CommandResult> Ctr(const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // Flags for `ctr run` that keep a container's FIFOs and runc state in the temporary
  // directory and its cgroup under /<namespace_name()>/<id>.
  std::vector<std::string> RunFlags(const std::string& id) const;

  // SIGKILLs containerd, as a crash would: shims and containers stay until Stop().
  void Kill();
  // Stops containerd and cleans up everything it left. Idempotent.
  Status Stop();

 private:
  struct Impl;
  explicit ContainerdFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starlight::testing
