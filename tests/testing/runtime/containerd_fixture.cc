#include "tests/testing/runtime/containerd_fixture.h"

#include <cstdio>
#include <fstream>

#include "tests/testing/runtime/daemon.h"

namespace starlight::testing {

using runtime_internal::Daemon;

namespace {

// containerd 1.6 config (version 2). Besides CRI, the snapshotters this machine has no use for
// (and /opt/containerd, which the `opt` plugin would create) are disabled; the ttrpc socket is
// derived from the gRPC address, the shims' sockets go to /run/containerd/s (fixed by
// containerd; RuntimeDir removes the ones it leaves).
std::string Config(const RuntimeDir& dir, const std::string& socket) {
  std::string config = "version = 2\n";
  config += "root = \"" + dir.Join("root") + "\"\n";
  config += "state = \"" + dir.Join("state") + "\"\n";
  config +=
      "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\",\n"
      "  \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\",\n"
      "  \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\",\n"
      "  \"io.containerd.tracing.processor.v1.otlp\"]\n\n";
  config += "[grpc]\n  address = \"" + socket + "\"\n";
  return config;
}

}  // namespace

struct ContainerdFixture::Impl {
  ContainerdOptions options;
  std::string ctr;
  std::unique_ptr<Daemon> daemon;

  std::string Socket() const { return daemon->dir().Join("containerd.sock"); }
};

ContainerdFixture::ContainerdFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ContainerdFixture::~ContainerdFixture() {
  Status s = Stop();
  if (!s.ok()) std::fprintf(stderr, "ContainerdFixture: %s\n", s.ToString().c_str());
}

Result<std::unique_ptr<ContainerdFixture>> ContainerdFixture::Start(
    const ContainerdOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  SL_ASSIGN_OR_RETURN(std::string containerd, FindExecutable(options.containerd_binary));
  SL_ASSIGN_OR_RETURN(impl->ctr, FindExecutable(options.ctr_binary));
  SL_ASSIGN_OR_RETURN(std::unique_ptr<RuntimeDir> dir, RuntimeDir::Create());
  impl->daemon = std::make_unique<Daemon>("containerd", std::move(dir));
  RuntimeDir& d = impl->daemon->dir();
  std::string config_path = d.Join("config.toml");
  {
    std::ofstream f(config_path, std::ios::trunc);
    f << Config(d, impl->Socket());
    f.close();
    if (!f) return Status::IoError("writing " + config_path);
  }
  std::vector<std::string> argv = {containerd, "--config", config_path, "--log-level", "info"};
  std::unique_ptr<ContainerdFixture> fixture(new ContainerdFixture(std::move(impl)));
  auto probe = [f = fixture.get()] { return f->Ctr({"version"}, std::chrono::seconds(5)); };
  Status started = fixture->impl_->daemon->Start(argv, probe, options.ready_timeout);
  if (!started.ok()) return started;
  return fixture;
}

const std::string& ContainerdFixture::temp_dir() const { return impl_->daemon->dir().path(); }
std::string ContainerdFixture::address() const { return impl_->Socket(); }
std::string ContainerdFixture::namespace_name() const { return impl_->daemon->dir().name(); }
std::string ContainerdFixture::log_path() const { return impl_->daemon->log_path(); }
pid_t ContainerdFixture::pid() const { return impl_->daemon->pid(); }
std::string ContainerdFixture::LogTail(size_t max_bytes) const {
  return impl_->daemon->LogTail(max_bytes);
}

Result<CommandResult> ContainerdFixture::Ctr(const std::vector<std::string>& args,
                                             std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {impl_->ctr, "--address", address(), "--namespace",
                                   namespace_name()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  options.timeout = timeout;
  options.drop_env_prefixes = runtime_internal::DroppedEnvPrefixes();
  return RunCommand(argv, options);
}

std::vector<std::string> ContainerdFixture::RunFlags(const std::string& id) const {
  const RuntimeDir& d = impl_->daemon->dir();
  std::vector<std::string> flags = {"--fifo-dir", d.Join("fifo")};
  flags.insert(flags.end(), {"--runc-root", d.Join("runc")});
  flags.insert(flags.end(), {"--cgroup", "/" + d.name() + "/" + id});
  return flags;
}

void ContainerdFixture::Kill() { impl_->daemon->Kill(); }

Status ContainerdFixture::Stop() {
  return impl_->daemon->Stop(
      std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.stop_timeout));
}

}  // namespace starlight::testing
