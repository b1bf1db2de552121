// One-shot runs of real tools (docker, ctr, skopeo, bash) for runtime tests, bounded in time:
// the child leads its own process group, stdout and stderr go to anonymous temporary files (no
// pipes, no size limits) and are returned separately. When the time runs out the whole group is
// SIGKILLed and the call fails. Not thread-safe (forks; run from one thread at a time).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status/status.h"

namespace starlight::testing {

struct CommandOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};
  std::string cwd;  // "" keeps the current directory
  // Variables with these prefixes are dropped from the child's environment (e.g. DOCKER_ or
  // CONTAINERD_, which would redirect the clients to another daemon or namespace).
  std::vector<std::string> drop_env_prefixes;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string output;  // stdout
  std::string errors;  // stderr
  // "exit N; stdout: ...; stderr: ..." (tails), for assertion messages.
  std::string Describe() const;
};

// Runs argv (argv[0] absolute, or found in $PATH) to completion. Fails (kUnavailable) when it
// runs longer than options.timeout, after killing its process group; kInvalidArgument/kIoError
// when it cannot be started. A non-zero exit code is not an error here.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

// Path of an executable: `name` itself when it contains a '/', else the first match in $PATH.
// kNotFound when there is none.
Result<std::string> FindExecutable(const std::string& name);

}  // namespace starlight::testing
