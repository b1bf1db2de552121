// The runtime fixtures themselves: the daemons start and answer, and a teardown leaves nothing
// behind (no process, mount, cgroup or directory), also after the daemon crashed with a
// container running. The crash cases need a Debian rootfs layer (STARLIGHT_ROOTFS_LAYER).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/testing/registry/process.h"
#include "tests/testing/runtime/command.h"
#include "tests/testing/runtime/containerd_fixture.h"
#include "tests/testing/runtime/dockerd_fixture.h"
#include "tests/testing/runtime/runtime_dir.h"

namespace starlight::testing {
namespace {

namespace fs = std::filesystem;

std::string RootfsLayer() {
  const char* layer = std::getenv("STARLIGHT_ROOTFS_LAYER");
  return layer != nullptr ? layer : "";
}

#define SKIP_UNLESS_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (dockerd and containerd run as root)"

// Everything a RuntimeDir owns is gone.
void ExpectNothingLeft(const std::string& dir) {
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(ProcessesUsing(dir).empty()) << ProcessesUsing(dir).size() << " processes";
  EXPECT_TRUE(MountsUnder(dir).empty()) << MountsUnder(dir).front();
  EXPECT_TRUE(CgroupsNamed(fs::path(dir).filename().string()).empty());
}

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->output, "out\n");
  EXPECT_EQ(r->errors, "err\n");
}

TEST(RunCommandTest, KillsWhatRunsTooLong) {
  CommandOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sh", "-c", "sleep 30 & sleep 30"}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(RuntimeDirTest, ReapsTheDirectoryOfADeadOwner) {
  // A directory as a killed test would leave it: its owner is gone, a process still uses it.
  std::string dir = "/tmp/slrt-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  { std::ofstream(dir + "/.owner") << "999999999 1\n"; }
  process::SpawnOptions spawn;
  auto pid = process::Spawn({"/bin/sh", "-c", "sleep 600", dir + "/marker"}, spawn);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ProcessesUsing(dir).size() < 2 && std::chrono::steady_clock::now() < deadline) {
    usleep(10000);
  }
  EXPECT_EQ(ProcessesUsing(dir).size(), 2u);  // sh and its sleep

  auto fresh = RuntimeDir::Create();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_FALSE(process::Alive(*pid));
  process::Stop(*pid, std::chrono::milliseconds(0));  // reap
  ExpectNothingLeft(dir);
  EXPECT_TRUE(fs::exists((*fresh)->path()));
  std::string path = (*fresh)->path();
  EXPECT_TRUE((*fresh)->CleanUp().ok());
  ExpectNothingLeft(path);
}

TEST(DockerdFixtureTest, StartsAnswersAndStopsClean) {
  SKIP_UNLESS_ROOT();
  auto dockerd = DockerdFixture::Start();
  ASSERT_TRUE(dockerd.ok()) << dockerd.status().ToString();
  DockerdFixture& d = **dockerd;
  std::string dir = d.temp_dir();
  EXPECT_LT(d.socket_path().size(), 108u);
  auto info = d.Docker({"info", "--format", "{{.Driver}} {{.DockerRootDir}}"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->output, "overlay2 " + dir + "/data\n") << info->Describe();
  // dockerd and the containerd it started.
  EXPECT_GE(ProcessesUsing(dir).size(), 2u);
  Status stopped = d.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_EQ(d.pid(), -1);
  EXPECT_NE(d.LogTail().find("API listen on"), std::string::npos) << d.LogTail();
  ExpectNothingLeft(dir);
  EXPECT_TRUE(d.Stop().ok());  // idempotent
}

TEST(DockerdFixtureTest, CrashWithARunningContainerLeavesNothingBehind) {
  SKIP_UNLESS_ROOT();
  if (RootfsLayer().empty()) GTEST_SKIP() << "STARLIGHT_ROOTFS_LAYER is not set";
  auto dockerd = DockerdFixture::Start();
  ASSERT_TRUE(dockerd.ok()) << dockerd.status().ToString();
  DockerdFixture& d = **dockerd;
  std::string dir = d.temp_dir();
  auto imported = d.Docker({"import", RootfsLayer(), "slrt/rootfs:crash"});
  ASSERT_TRUE(imported.ok() && imported->exit_code == 0)
      << (imported.ok() ? imported->Describe() : imported.status().ToString());
  auto run = d.Docker({"run", "-d", "--network", "none", "slrt/rootfs:crash", "/bin/sleep", "600"});
  ASSERT_TRUE(run.ok() && run->exit_code == 0)
      << (run.ok() ? run->Describe() : run.status().ToString());
  EXPECT_FALSE(MountsUnder(dir).empty());
  EXPECT_FALSE(CgroupsNamed(fs::path(dir).filename().string()).empty());

  d.Kill();
  // dockerd's containerd died with it; the shim and the container's sleep did not.
  EXPECT_GE(ProcessesUsing(dir).size(), 2u);
  Status stopped = d.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  ExpectNothingLeft(dir);
}

TEST(ContainerdFixtureTest, StartsAnswersAndStopsClean) {
  SKIP_UNLESS_ROOT();
  auto containerd = ContainerdFixture::Start();
  ASSERT_TRUE(containerd.ok()) << containerd.status().ToString();
  ContainerdFixture& c = **containerd;
  std::string dir = c.temp_dir();
  EXPECT_LT(c.address().size() + std::string(".ttrpc").size(), 108u);
  auto plugins = c.Ctr({"plugins", "ls"});
  ASSERT_TRUE(plugins.ok() && plugins->exit_code == 0)
      << (plugins.ok() ? plugins->Describe() : plugins.status().ToString());
  EXPECT_EQ(plugins->output.find("io.containerd.grpc.v1  cri"), std::string::npos);
  EXPECT_NE(plugins->output.find("overlayfs"), std::string::npos);
  Status stopped = c.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_NE(c.LogTail().find("containerd successfully booted"), std::string::npos) << c.LogTail();
  ExpectNothingLeft(dir);
}

TEST(ContainerdFixtureTest, CrashWithARunningContainerLeavesNothingBehind) {
  SKIP_UNLESS_ROOT();
  if (RootfsLayer().empty()) GTEST_SKIP() << "STARLIGHT_ROOTFS_LAYER is not set";
  auto containerd = ContainerdFixture::Start();
  ASSERT_TRUE(containerd.ok()) << containerd.status().ToString();
  ContainerdFixture& c = **containerd;
  std::string dir = c.temp_dir();
  std::string rootfs = dir + "/rootfs";
  fs::create_directories(rootfs);
  auto extracted = RunCommand({"tar", "-xzf", RootfsLayer(), "-C", rootfs});
  ASSERT_TRUE(extracted.ok() && extracted->exit_code == 0)
      << (extracted.ok() ? extracted->Describe() : extracted.status().ToString());
  std::vector<std::string> run = {"run", "-d", "--rootfs"};
  for (const auto& flag : c.RunFlags("crash")) run.push_back(flag);
  run.insert(run.end(), {rootfs, "crash", "/bin/sleep", "600"});
  auto started = c.Ctr(run);
  ASSERT_TRUE(started.ok() && started->exit_code == 0)
      << (started.ok() ? started->Describe() : started.status().ToString());
  EXPECT_FALSE(CgroupsNamed(c.namespace_name()).empty());

  c.Kill();
  EXPECT_GE(ProcessesUsing(dir).size(), 2u);  // the shim and the container's sleep
  Status stopped = c.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  ExpectNothingLeft(dir);
}

}  // namespace
}  // namespace starlight::testing
