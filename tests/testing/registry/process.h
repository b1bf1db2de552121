// Child processes for the registry fixture (internal to tests/testing/registry): a long-running
// server in its own process group that dies with the thread that started it, and one-shot tool
// runs. Output goes to files, never pipes. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/status/status.h"

namespace starlight::testing::process {

struct SpawnOptions {
  std::string output_path;  // stdout and stderr are appended here; "" means /dev/null
  std::string cwd;          // "" keeps the current directory
  // Variables with these prefixes are dropped from the child's environment (e.g. REGISTRY_,
  // which would override docker-registry's config file).
  std::vector<std::string> drop_env_prefixes;
};

// Starts argv[0] (an absolute path) with the given arguments. The child leads its own process
// group and gets SIGKILL when the calling thread exits (PR_SET_PDEATHSIG): start servers from
// a thread that outlives them (gtest's main thread does).
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// The same as Spawn, with the child's stdout and stderr on the given descriptors (which stay
// open in the caller; options.output_path is ignored). For callers that capture the two apart.
Result<pid_t> SpawnWithFds(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd,
                           const SpawnOptions& options);

// True while `pid` (a child of ours) has not exited. Does not reap it.
bool Alive(pid_t pid);

// Stops the process group led by `pid` and reaps `pid`: SIGTERM first when `grace` is positive,
// SIGKILL after `grace` (or at once). Never returns before the child is reaped.
void Stop(pid_t pid, std::chrono::milliseconds grace);

// Runs argv to completion (output to options.output_path) and returns its exit code, 128+signal
// when killed.
Result<int> Run(const std::vector<std::string>& argv, const SpawnOptions& options);

// The last `max_bytes` of a file (cut at a line start when possible); "" when unreadable.
std::string TailOfFile(const std::string& path, size_t max_bytes = 2048);

// A loopback port that was free a moment ago (bind 127.0.0.1:0, read it back, close). Another
// process may take it before the caller binds it: callers retry on "address in use".
Result<int> PickFreePort();

}  // namespace starlight::testing::process
