#include "tests/testing/runtime/dockerd_fixture.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/testing/runtime/daemon.h"

namespace starlight::testing {

using runtime_internal::Daemon;

struct DockerdFixture::Impl {
  DockerdOptions options;
  std::string docker;  // the client binary
  std::unique_ptr<Daemon> daemon;

  std::string Socket() const { return daemon->dir().Join("docker.sock"); }
  std::string ClientConfig() const { return daemon->dir().Join("client"); }
};

DockerdFixture::DockerdFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DockerdFixture::~DockerdFixture() {
  Status s = Stop();
  if (!s.ok()) std::fprintf(stderr, "DockerdFixture: %s\n", s.ToString().c_str());
}

Result<std::unique_ptr<DockerdFixture>> DockerdFixture::Start(const DockerdOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  SL_ASSIGN_OR_RETURN(std::string dockerd, FindExecutable(options.dockerd_binary));
  Result<std::string> docker = FindExecutable(options.docker_binary);
  if (!docker.ok()) docker = FindExecutable("docker");
  if (!docker.ok()) return docker.status();
  impl->docker = *docker;
  SL_ASSIGN_OR_RETURN(std::unique_ptr<RuntimeDir> dir, RuntimeDir::Create());
  impl->daemon = std::make_unique<Daemon>("dockerd", std::move(dir));
  RuntimeDir& d = impl->daemon->dir();

  // An empty daemon config (so /etc/docker/daemon.json plays no part) and client config.
  std::error_code ec;
  std::filesystem::create_directories(impl->ClientConfig(), ec);
  if (ec) return Status::IoError("creating " + impl->ClientConfig() + ": " + ec.message());
  for (const auto& [path, text] : {std::pair{d.Join("daemon.json"), "{}\n"},
                                   std::pair{impl->ClientConfig() + "/config.json", "{}\n"}}) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
    f.close();
    if (!f) return Status::IoError("writing " + path);
  }

  std::vector<std::string> argv = {dockerd,
                                   "--config-file=" + d.Join("daemon.json"),
                                   "--data-root=" + d.Join("data"),
                                   "--exec-root=" + d.Join("exec"),
                                   "--host=unix://" + impl->Socket(),
                                   "--pidfile=" + d.Join("dockerd.pid"),
                                   "--bridge=none",
                                   "--iptables=false",
                                   "--ip6tables=false",
                                   "--ip-forward=false",
                                   "--ip-masq=false",
                                   "--userland-proxy=false",
                                   "--storage-driver=overlay2",
                                   "--exec-opt=native.cgroupdriver=cgroupfs",
                                   "--cgroup-parent=/" + d.name(),
                                   "--shutdown-timeout=5",
                                   "--log-level=info"};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  std::unique_ptr<DockerdFixture> fixture(new DockerdFixture(std::move(impl)));
  auto probe = [f = fixture.get()] {
    return f->Docker({"version", "--format", "{{.Server.Version}}"}, std::chrono::seconds(5));
  };
  Status started = fixture->impl_->daemon->Start(argv, probe, options.ready_timeout);
  if (!started.ok()) return started;
  return fixture;
}

const std::string& DockerdFixture::temp_dir() const { return impl_->daemon->dir().path(); }
std::string DockerdFixture::socket_path() const { return impl_->Socket(); }
std::string DockerdFixture::host() const { return "unix://" + impl_->Socket(); }
std::string DockerdFixture::log_path() const { return impl_->daemon->log_path(); }
pid_t DockerdFixture::pid() const { return impl_->daemon->pid(); }
std::string DockerdFixture::LogTail(size_t max_bytes) const {
  return impl_->daemon->LogTail(max_bytes);
}

Result<CommandResult> DockerdFixture::Docker(const std::vector<std::string>& args,
                                             std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {impl_->docker, "--host", host(), "--config",
                                   impl_->ClientConfig()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  options.timeout = timeout;
  options.drop_env_prefixes = runtime_internal::DroppedEnvPrefixes();
  return RunCommand(argv, options);
}

void DockerdFixture::Kill() { impl_->daemon->Kill(); }

Status DockerdFixture::Stop() {
  return impl_->daemon->Stop(
      std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.stop_timeout));
}

}  // namespace starlight::testing
