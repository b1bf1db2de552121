// The temporary directory a test daemon (dockerd, containerd) keeps all its state in, and the
// teardown that leaves nothing of it behind.
//
// The directory is /tmp/slrt-XXXXXX (short on purpose: unix socket paths must stay below 108
// bytes). Its name doubles as a marker: a process whose command line or working directory lies
// under it (the daemon, dockerd's own containerd, every containerd-shim started for it), and
// every descendant of such a process (runc, the containers' processes), belongs to this
// directory; so do the cgroups named after it and every mount below it. CleanUp() kills those
// processes, removes the shims' sockets from /run/containerd/s, the cgroups and the mounts, and
// then the directory. Nothing else on the machine is touched, so other people's daemons are
// safe. A RuntimeDir records the test process as its owner; Create() first cleans up the
// directories of owners that died (e.g. a test killed by ctest's timeout). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status/status.h"

namespace starlight::testing {

class RuntimeDir {
 public:
  // Creates a fresh directory (after reaping stale ones of dead owners).
  static Result<std::unique_ptr<RuntimeDir>> Create();
  // CleanUp() unless it ran; problems are printed to stderr.
  ~RuntimeDir();
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;

  const std::string& path() const { return path_; }
  // "slrt-XXXXXX": also a valid containerd namespace and the cgroup parent of its containers.
  std::string name() const;
  std::string Join(std::string_view relative) const;  // path() + "/" + relative

  // Kills what belongs to the directory (see above), waits at most `timeout` for it to go, and
  // removes the directory. Idempotent; returns what could not be cleaned.
  Status CleanUp(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool cleaned() const { return cleaned_; }

 private:
  explicit RuntimeDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool cleaned_ = false;
};

// Inspection (also used by tests to check that a teardown left nothing):
// live processes (zombies excluded) whose command line or working directory lies under `dir`,
// and all their live descendants, the calling process and pid 1 excluded.
std::vector<pid_t> ProcessesUsing(const std::string& dir);
// Mount points at or below `dir` in this mount namespace.
std::vector<std::string> MountsUnder(const std::string& dir);
// Directories named `name` at the top of every mounted cgroup hierarchy (v1 and v2).
std::vector<std::string> CgroupsNamed(const std::string& name);

}  // namespace starlight::testing
