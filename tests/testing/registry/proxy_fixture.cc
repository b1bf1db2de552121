#include "tests/testing/registry/proxy_fixture.h"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/testing/registry/process.h"
#include "tests/testing/temp_dir.h"

namespace starlight::testing {
namespace fs = std::filesystem;

struct ProxyFixture::Impl {
  ProxyOptions options;
  TempDir dir;  // removed with everything in it
  int port = 0;
  pid_t pid = -1;

  std::string Path(const char* name) const { return dir.path() + "/" + name; }

  Status WriteConfig() {
    std::ofstream f(Path("proxy.toml"));
    f << "# starlight-proxy test config\n"
      << "db = \"" << Path("db") << "\"\n"
      << "upstream = \"" << options.upstream << "\"\n"
      << "plain-http = true\n"
      << "listen = \"127.0.0.1:" << port << "\"\n"
      << "webhook-secret = \"" << options.webhook_secret << "\"\n"
      << "admin-token = \"" << options.admin_token << "\"\n"
      << "log-level = \"debug\"\n"
      << "\n[serve]\n"
      << "workers = " << options.workers << "\n"
      << "retry-backoff-ms = " << options.retry_backoff_ms << "\n"
      << "retry-max-seconds = " << options.retry_max_seconds << "\n"
      << "ready-file = \"" << Path("ready") << "\"\n";
    if (!options.convert_suffix.empty())
      f << "convert-on-push = \"" << options.convert_suffix << "\"\n";
    f.close();
    return f ? Status::Ok() : Status::IoError("writing the proxy config");
  }

  // One launch; *port_taken tells a failure caused by another listener on the port.
  Status Launch(bool* port_taken) {
    *port_taken = false;
    std::error_code ec;
    fs::remove(Path("ready"), ec);
    SL_RETURN_IF_ERROR(WriteConfig());
    process::SpawnOptions so;
    so.output_path = Path("proxy.log");
    SL_ASSIGN_OR_RETURN(
        pid, process::Spawn({options.binary, "--config", Path("proxy.toml"), "serve"}, so));
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options.ready_timeout_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (fs::exists(Path("ready"))) return Status::Ok();
      if (!process::Alive(pid)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    process::Stop(pid, std::chrono::milliseconds(0));
    pid = -1;
    std::string tail = process::TailOfFile(Path("proxy.log"));
    *port_taken = tail.find("cannot listen") != std::string::npos;
    return Status::Unavailable("starlight-proxy did not become ready: " + tail);
  }
};

Result<std::unique_ptr<ProxyFixture>> ProxyFixture::Start(const ProxyOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Status last = Status::Internal("not started");
  for (int attempt = 0; attempt < 5; ++attempt) {
    SL_ASSIGN_OR_RETURN(impl->port, process::PickFreePort());
    bool taken = false;
    last = impl->Launch(&taken);
    if (last.ok() || !taken) break;
  }
  SL_RETURN_IF_ERROR(last);
  return std::unique_ptr<ProxyFixture>(new ProxyFixture(std::move(impl)));
}

ProxyFixture::ProxyFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProxyFixture::~ProxyFixture() {
  if (impl_->pid > 0) process::Stop(impl_->pid, std::chrono::milliseconds(3000));
}

std::string ProxyFixture::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }
std::string ProxyFixture::events_url() const { return url() + "/v1/registry/events"; }
std::string ProxyFixture::config_path() const { return impl_->Path("proxy.toml"); }
std::string ProxyFixture::db_dir() const { return impl_->Path("db"); }
std::string ProxyFixture::log_path() const { return impl_->Path("proxy.log"); }
const ProxyOptions& ProxyFixture::options() const { return impl_->options; }
ProxyOptions* ProxyFixture::mutable_options() { return &impl_->options; }
int ProxyFixture::pid() const { return impl_->pid; }

void ProxyFixture::Kill() {
  if (impl_->pid > 0) process::Stop(impl_->pid, std::chrono::milliseconds(0));
  impl_->pid = -1;
}

Status ProxyFixture::Restart() {
  if (impl_->pid > 0) process::Stop(impl_->pid, std::chrono::milliseconds(3000));
  impl_->pid = -1;
  Status last = Status::Internal("not started");
  for (int attempt = 0; attempt < 30; ++attempt) {  // the port may linger briefly
    bool taken = false;
    last = impl_->Launch(&taken);
    if (last.ok() || !taken) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

RunResult ProxyFixture::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {impl_->options.binary, "--config", config_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

}  // namespace starlight::testing
