#include "tests/testing/runtime/daemon.h"

#include <signal.h>

#include <cstdio>
#include <thread>

#include "tests/testing/registry/process.h"

namespace starlight::testing::runtime_internal {

namespace {
constexpr size_t kSavedLogBytes = 64 * 1024;
}  // namespace

std::vector<std::string> DroppedEnvPrefixes() {
  return {"DOCKER_", "CONTAINERD_", "NOTIFY_SOCKET="};
}

Daemon::Daemon(std::string name, std::unique_ptr<RuntimeDir> dir)
    : name_(std::move(name)), dir_(std::move(dir)), log_path_(dir_->Join(name_ + ".log")) {}

Daemon::~Daemon() {
  Status s = Stop(std::chrono::seconds(15));
  if (!s.ok()) std::fprintf(stderr, "%s: %s\n", name_.c_str(), s.ToString().c_str());
}

std::string Daemon::LogTail(size_t max_bytes) const {
  std::string tail = stopped_ ? saved_log_ : process::TailOfFile(log_path_, max_bytes);
  if (tail.size() > max_bytes) tail.erase(0, tail.size() - max_bytes);
  return tail;
}

Status Daemon::Start(const std::vector<std::string>& argv,
                     const std::function<Result<CommandResult>()>& probe,
                     std::chrono::milliseconds timeout) {
  process::SpawnOptions spawn;
  spawn.output_path = log_path_;
  spawn.cwd = dir_->path();
  spawn.drop_env_prefixes = DroppedEnvPrefixes();
  Result<pid_t> pid = process::Spawn(argv, spawn);
  if (!pid.ok()) {
    (void)Stop(std::chrono::milliseconds(0));
    return pid.status().WithContext("starting " + name_);
  }
  pid_ = *pid;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  for (;;) {
    if (!process::Alive(pid_)) {
      std::string tail = process::TailOfFile(log_path_);
      (void)Stop(std::chrono::milliseconds(0));
      return Status::Unavailable(name_ + " exited during start-up; log: " + tail);
    }
    Result<CommandResult> answer = probe();
    if (answer.ok() && answer->exit_code == 0) return Status::Ok();
    last = answer.ok() ? answer->Describe() : answer.status().ToString();
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string tail = process::TailOfFile(log_path_);
      (void)Stop(std::chrono::milliseconds(0));
      return Status::Unavailable(name_ + " not ready after " + std::to_string(timeout.count()) +
                                 " ms; last probe: " + last + "; log: " + tail);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  process::Stop(pid_, std::chrono::milliseconds(0));
  pid_ = -1;
}

Status Daemon::Stop(std::chrono::milliseconds grace) {
  if (stopped_) return Status::Ok();
  if (pid_ > 0) {
    process::Stop(pid_, grace);
    pid_ = -1;
  }
  saved_log_ = process::TailOfFile(log_path_, kSavedLogBytes);
  stopped_ = true;
  Status cleaned = dir_->CleanUp();
  if (!cleaned.ok()) return cleaned.WithContext("stopping " + name_);
  return Status::Ok();
}

}  // namespace starlight::testing::runtime_internal
