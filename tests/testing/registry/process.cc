#include "tests/testing/registry/process.h"

#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

extern char** environ;

namespace starlight::testing::process {
namespace {

void CloseFrom(int lowest) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0) == 0) return;
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = lowest; fd < (max > 0 ? max : 1024); ++fd) ::close(fd);
}

}  // namespace

Result<pid_t> SpawnWithFds(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd,
                           const SpawnOptions& options) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Status::InvalidArgument("spawn: argv[0] must be an absolute path");
  }
  if (::access(argv[0].c_str(), X_OK) != 0) return Status::FromErrno(argv[0], errno);
  // Everything the child needs is prepared before fork: the test process has threads, so only
  // async-signal-safe calls may run between fork and exec.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    bool drop = false;
    for (const auto& prefix : options.drop_env_prefixes) {
      drop |= std::strncmp(*e, prefix.c_str(), prefix.size()) == 0;
    }
    if (!drop) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::FromErrno("open /dev/null", errno);
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the parent died before prctl took effect
    if (::dup2(in, 0) < 0 || ::dup2(stdout_fd, 1) < 0 || ::dup2(stderr_fd, 2) < 0) ::_exit(126);
    CloseFrom(3);
    if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(126);
    // Signals blocked or ignored by the test process must not be inherited.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(args[0], args.data(), envp.data());
    static constexpr char kMsg[] = "spawn: execve failed\n";
    [[maybe_unused]] ssize_t n = ::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(in);
  if (pid < 0) return Status::FromErrno("fork", fork_errno);
  ::setpgid(pid, pid);  // also here, so that the group exists whichever side runs first
  return pid;
}

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  const std::string& out_path = options.output_path.empty() ? "/dev/null" : options.output_path;
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return Status::FromErrno("open " + out_path, errno);
  auto pid = SpawnWithFds(argv, out, out, options);
  ::close(out);
  return pid;
}

bool Alive(pid_t pid) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      return info.si_pid == 0;
    }
    if (errno != EINTR) return false;  // ECHILD: not (or no longer) our child
  }
}

void Stop(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (grace.count() > 0 && Alive(pid)) {
    ::kill(-pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (Alive(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The leader is at worst a zombie here, so the group id is still reserved: kill the whole
  // group (stragglers included) before reaping the leader.
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

Result<int> Run(const std::vector<std::string>& argv, const SpawnOptions& options) {
  SL_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, options));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid " + argv[0], errno);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return "";
  std::streamoff size = f.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  f.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  f.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  if (start > 0) {
    size_t nl = tail.find('\n');
    if (nl != std::string::npos && nl + 1 < tail.size()) tail.erase(0, nl + 1);
  }
  return tail;
}

// A port that was free a moment ago (bind port 0, read it back, close). Another process may
// take it before the registry binds it: callers retry.
Result<int> PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("binding 127.0.0.1:0", err);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace starlight::testing::process
