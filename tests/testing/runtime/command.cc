#include "tests/testing/runtime/command.h"

#include "tests/testing/registry/process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

namespace starlight::testing {
namespace {

// An unlinked temporary file: nothing is left behind whatever happens to the test.
class AnonymousFile {
 public:
  AnonymousFile() = default;
  ~AnonymousFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  AnonymousFile(const AnonymousFile&) = delete;
  AnonymousFile& operator=(const AnonymousFile&) = delete;

  Status Create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/slrt-cmd-XXXXXX";
    fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd_ < 0) return Status::FromErrno("mkostemp " + tmpl, errno);
    ::unlink(tmpl.c_str());
    return Status::Ok();
  }
  int fd() const { return fd_; }

  Result<std::string> ReadAll() const {
    std::string data;
    char buf[65536];
    off_t offset = 0;
    for (;;) {
      ssize_t n = ::pread(fd_, buf, sizeof(buf), offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("reading command output", errno);
      }
      if (n == 0) return data;
      data.append(buf, static_cast<size_t>(n));
      offset += n;
    }
  }

 private:
  int fd_ = -1;
};

std::string Tail(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "..." + text.substr(text.size() - max_bytes);
}

// True once `pid` (our child) has exited; does not reap it.
bool Exited(pid_t pid) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      return info.si_pid != 0;
    }
    if (errno != EINTR) return true;
  }
}

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string CommandResult::Describe() const {
  return "exit " + std::to_string(exit_code) + "; stdout: " + Tail(output, 2000) +
         "; stderr: " + Tail(errors, 2000);
}

Result<std::string> FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return Status::NotFound(name + " is not an executable");
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr && *path != '\0' ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty() || dir[0] != '/') continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Status::NotFound(name + " not found in PATH (tools/install-deps.sh installs it)");
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("RunCommand: empty argv");
  SL_ASSIGN_OR_RETURN(std::string program, FindExecutable(argv[0]));
  AnonymousFile out, err;
  SL_RETURN_IF_ERROR(out.Create());
  SL_RETURN_IF_ERROR(err.Create());
  std::vector<std::string> args = argv;
  args[0] = program;
  process::SpawnOptions spawn;
  spawn.cwd = options.cwd;
  spawn.drop_env_prefixes = options.drop_env_prefixes;
  SL_ASSIGN_OR_RETURN(pid_t pid, process::SpawnWithFds(args, out.fd(), err.fd(), spawn));

  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  auto pause = std::chrono::milliseconds(1);
  bool timed_out = false;
  while (!Exited(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  // Kill the group before reaping the leader (its id stays reserved while it is a zombie):
  // stragglers such as a hung helper die with it.
  ::kill(-pid, SIGKILL);
  CommandResult result;
  result.exit_code = Reap(pid);
  SL_ASSIGN_OR_RETURN(result.output, out.ReadAll());
  SL_ASSIGN_OR_RETURN(result.errors, err.ReadAll());
  if (timed_out) {
    return Status::Unavailable(argv[0] + " did not finish within " +
                               std::to_string(options.timeout.count()) + " ms (killed); " +
                               result.Describe());
  }
  return result;
}

}  // namespace starlight::testing
