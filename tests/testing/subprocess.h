// Runs a real program (the converter binary, gzip, bsdtar, GNU tar, go, python3) and collects
// its exit code, output and peak RSS (from wait4's rusage of that child). Not thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace starlight::testing {

struct RunOptions {
  std::vector<std::pair<std::string, std::string>> env;  // set in the child
  std::string stdin_path;                                // default /dev/null
  std::string cwd;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out, err;
  long max_rss_kb = 0;
};

RunResult Run(const std::vector<std::string>& argv, const RunOptions& options = {});
// bash -c script, with "$1".. bound to args (use them instead of quoting paths into the script).
RunResult RunShell(const std::string& script, const std::vector<std::string>& args = {},
                   const RunOptions& options = {});
// Path of an executable found in $PATH, or "" when there is none.
std::string FindProgram(const std::string& name);

}  // namespace starlight::testing
