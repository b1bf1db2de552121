// The legacy-runtime proof: an image converted by `starlight-convert image` still works with the
// runtimes that know nothing about Starlight. A runnable Debian image (the rootfs layer from
// STARLIGHT_ROOTFS_LAYER plus a generated layer with files under opt/, a symlink, a hard link,
// an empty file and a whiteout) is pushed to a real docker-registry with skopeo, converted
// registry to registry, then pulled and run by a real dockerd (docker pull + docker run) and a
// real containerd (ctr image pull --plain-http + ctr run), each started by the test with all
// its state in a temporary directory. What the containers print proves the layers extract to
// the right files; equal image IDs / RootFS.Layers and a shared containerd snapshot chain show
// that the diffIDs and the config did not change.
//
// Needs root, Debian's docker.io, containerd, runc, skopeo and docker-registry, and
// STARLIGHT_ROOTFS_LAYER (tools/make-rootfs-layer.sh; tools/test.sh sets it). Run with
// `ctest -L runtime` or `legacy_runtime_test --gtest_filter='LegacyRuntimeTest.*'`.
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "converter/image.h"
#include "core/digest/digest.h"
#include "core/oci/store.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/registry/registry_fixture.h"
#include "tests/testing/runtime/command.h"
#include "tests/testing/runtime/containerd_fixture.h"
#include "tests/testing/runtime/dockerd_fixture.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight::converter {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kRepo[] = "legacy/debian";
constexpr char kHello[] = "hello from a converted Starlight layer\n";
constexpr char kDataPath[] = "/opt/starlight/data.bin";
// The image's Cmd: prints the generated file, then Debian's version.
constexpr char kCmdScript[] = "cat /opt/starlight/hello.txt /etc/debian_version";
// Checks the other kinds of entry of the generated layer, and runs a dpkg tool of the rootfs.
constexpr char kProbeScript[] =
    "sha256sum /opt/starlight/data.bin; cat /opt/starlight/link /opt/starlight/hardlink; "
    "wc -c < /opt/starlight/empty; test ! -e /etc/motd && echo motd-whited-out; "
    "dpkg-query -W -f '${Package} ${Version}\\n' base-files";

// What SetUpTestSuite prepared: a registry holding the original image (tag v1) and its
// conversion (tag v1-starlight).
struct Prepared {
  std::unique_ptr<testing::RegistryFixture> registry;
  std::string original_ref, converted_ref;  // HOST/legacy/debian:TAG
  std::string config_digest;                // = the image ID
  std::vector<std::string> diff_ids;
  std::vector<std::string> original_layers, converted_layers;  // blob digests
  std::string converted_manifest_digest;
  std::string data_sha256;  // hex, of opt/starlight/data.bin
};

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string Describe(const Result<testing::CommandResult>& r) {
  return r.ok() ? r->Describe() : r.status().ToString();
}

bool Succeeded(const Result<testing::CommandResult>& r) { return r.ok() && r->exit_code == 0; }

std::string GoArch() {
  struct utsname u {};
  ::uname(&u);
  std::string machine = u.machine;
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  return machine;
}

testing::Header RootOwned(std::string name, char type, uint32_t mode) {
  testing::Header h;
  h.name = std::move(name);
  h.typeflag = type;
  h.mode = mode;
  h.uid = h.gid = 0;
  h.uname = h.gname = "root";
  h.mtime = 1700000000;
  return h;
}

Status WriteBlob(const std::string& layout, const std::string& digest, std::string_view data) {
  try {
    testing::WriteFile(layout + "/blobs/sha256/" + digest.substr(7), data);
  } catch (const std::exception& e) {
    return Status::IoError(e.what());
  }
  return Status::Ok();
}

// Runs a bash script (bounded); its stdout, or an error carrying its output.
Result<std::string> Shell(const std::string& script, const std::vector<std::string>& args,
                          std::chrono::minutes timeout = std::chrono::minutes(5)) {
  std::vector<std::string> argv = {"bash", "-c", "set -euo pipefail; " + script, "bash"};
  argv.insert(argv.end(), args.begin(), args.end());
  testing::CommandOptions options;
  options.timeout = timeout;
  SL_ASSIGN_OR_RETURN(testing::CommandResult r, testing::RunCommand(argv, options));
  if (r.exit_code != 0) return Status::Internal("bash -c '" + script + "': " + r.Describe());
  return r.output;
}

// Builds the image as an OCI layout in `layout` (tag v1), pushes it with skopeo and converts it.
Status Prepare(const std::string& rootfs_layer, const std::string& work, Prepared* p) {
  auto start = Clock::now();
  // The rootfs layer: its blob digest and diffID, computed by coreutils, not by our code.
  SL_ASSIGN_OR_RETURN(std::string sums, Shell("sha256sum < \"$1\" | cut -d' ' -f1; "
                                              "gzip -dc < \"$1\" | sha256sum | cut -d' ' -f1",
                                              {rootfs_layer}));
  std::istringstream lines(sums);
  std::string rootfs_digest, rootfs_diff_id;
  lines >> rootfs_digest >> rootfs_diff_id;
  if (rootfs_digest.size() != 64 || rootfs_diff_id.size() != 64) {
    return Status::Internal("unexpected sha256sum output: " + sums);
  }
  rootfs_digest = "sha256:" + rootfs_digest;
  rootfs_diff_id = "sha256:" + rootfs_diff_id;
  // The whiteout below is only a proof if the file exists in the rootfs.
  SL_ASSIGN_OR_RETURN(std::string motd,
                      Shell("tar -tzf \"$1\" | grep -cx etc/motd || true", {rootfs_layer}));
  if (motd != "1\n") return Status::FailedPrecondition("the rootfs layer has no etc/motd");

  // The generated layer (hand-made tar, zlib gzip): files only below opt/ and one whiteout.
  std::string data = testing::PseudoRandomBytes(4 * 1024 * 1024 + 12345, 7, /*text=*/true);
  p->data_sha256 = digest::Sha256Of(data).Hex();
  testing::TarBuilder tar;
  tar.Add(RootOwned("etc/.wh.motd", '0', 0644))
      .Add(RootOwned("opt/", '5', 0755))
      .Add(RootOwned("opt/starlight/", '5', 0755))
      .Add(RootOwned("opt/starlight/data.bin", '0', 0644), data)
      .Add(RootOwned("opt/starlight/empty", '0', 0644))
      .Add(RootOwned("opt/starlight/hello.txt", '0', 0644), kHello);
  testing::Header link = RootOwned("opt/starlight/link", '2', 0777);
  link.linkname = "hello.txt";
  testing::Header hardlink = RootOwned("opt/starlight/hardlink", '1', 0644);
  hardlink.linkname = "opt/starlight/hello.txt";
  tar.Add(link).Add(hardlink).End();
  std::string top_blob = testing::GzipCompress(tar.bytes(), 6);
  std::string top_digest = digest::Sha256Of(top_blob).ToString();
  std::string top_diff_id = digest::Sha256Of(tar.bytes()).ToString();

  // The OCI layout.
  std::string layout = work + "/layout";
  std::error_code ec;
  fs::create_directories(layout + "/blobs/sha256", ec);
  if (ec) return Status::IoError("creating " + layout + ": " + ec.message());
  fs::copy_file(rootfs_layer, layout + "/blobs/sha256/" + rootfs_digest.substr(7), ec);
  if (ec) return Status::IoError("copying " + rootfs_layer + ": " + ec.message());
  SL_RETURN_IF_ERROR(WriteBlob(layout, top_digest, top_blob));
  p->diff_ids = {rootfs_diff_id, top_diff_id};
  p->original_layers = {rootfs_digest, top_digest};
  json config = {
      {"created", "2024-01-01T00:00:00Z"},
      {"architecture", GoArch()},
      {"os", "linux"},
      {"config",
       {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"Cmd", {"/bin/sh", "-c", kCmdScript}},
        {"WorkingDir", "/"}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", p->diff_ids}}},
      {"history",
       {{{"created", "2024-01-01T00:00:00Z"}, {"created_by", "debootstrap --variant=minbase"}},
        {{"created", "2024-01-01T00:00:00Z"}, {"created_by", "starlight legacy-runtime test"}}}}};
  std::string config_bytes = config.dump();
  p->config_digest = digest::Sha256Of(config_bytes).ToString();
  SL_RETURN_IF_ERROR(WriteBlob(layout, p->config_digest, config_bytes));
  uint64_t rootfs_size = fs::file_size(rootfs_layer, ec);
  if (ec) return Status::IoError("size of " + rootfs_layer + ": " + ec.message());
  constexpr char kLayerType[] = "application/vnd.oci.image.layer.v1.tar+gzip";
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", p->config_digest},
        {"size", config_bytes.size()}}},
      {"layers",
       {{{"mediaType", kLayerType}, {"digest", rootfs_digest}, {"size", rootfs_size}},
        {{"mediaType", kLayerType}, {"digest", top_digest}, {"size", top_blob.size()}}}}};
  std::string manifest_bytes = manifest.dump();
  std::string manifest_digest = digest::Sha256Of(manifest_bytes).ToString();
  SL_RETURN_IF_ERROR(WriteBlob(layout, manifest_digest, manifest_bytes));
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", manifest_digest},
                   {"size", manifest_bytes.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", "v1"}}}}}}};
  try {
    testing::WriteFile(layout + "/index.json", index.dump());
    testing::WriteFile(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  } catch (const std::exception& e) {
    return Status::IoError(e.what());
  }

  // Push with skopeo (the blobs go as they are: no recompression from oci: to docker://).
  std::string host = p->registry->host();
  p->original_ref = host + "/" + kRepo + ":v1";
  p->converted_ref = host + "/" + kRepo + ":v1-starlight";
  testing::CommandOptions push_options;
  push_options.timeout = std::chrono::minutes(5);
  push_options.cwd = work;
  SL_ASSIGN_OR_RETURN(testing::CommandResult pushed,
                      testing::RunCommand({"skopeo", "--insecure-policy", "copy", "--quiet",
                                           "--dest-tls-verify=false", "oci:" + layout + ":v1",
                                           "docker://" + p->original_ref},
                                          push_options));
  if (pushed.exit_code != 0) return Status::Internal("skopeo copy: " + pushed.Describe());
  std::printf("[ timing ] image built and pushed in %.1f s\n", Seconds(start));

  // Convert, registry to registry.
  start = Clock::now();
  ImageOptions options;
  options.source = "docker://" + p->original_ref;
  options.destination = "docker://" + p->converted_ref;
  options.source_store.registry.plain_http = true;
  options.destination_store.registry.plain_http = true;
  options.tmpdir = work;
  SL_ASSIGN_OR_RETURN(ImageReport report, ConvertImage(options));
  std::printf("[ timing ] converted in %.1f s (%d layers, %llu -> %llu bytes)\n", Seconds(start),
              report.converted, static_cast<unsigned long long>(report.bytes_in),
              static_cast<unsigned long long>(report.bytes_out));
  if (report.converted != 2 || report.layers != 2) {
    return Status::Internal("expected 2 converted layers: " + DescribeImageReport(options, report));
  }
  p->converted_manifest_digest = report.destination_digest;

  // The converted manifest: same config, new (seekable, annotated) layer blobs.
  oci::StoreOptions store_options;
  store_options.registry.plain_http = true;
  SL_ASSIGN_OR_RETURN(auto store, oci::OpenImageStore(options.destination, store_options, false));
  SL_ASSIGN_OR_RETURN(registry::Manifest converted, store->GetManifest("v1-starlight"));
  json m = json::parse(converted.bytes, nullptr, /*allow_exceptions=*/false);
  if (!m.is_object() || !m.contains("config") || !m["config"].is_object() ||
      m["config"].value("digest", "") != p->config_digest || !m.contains("layers") ||
      !m["layers"].is_array() || m["layers"].size() != 2) {
    return Status::Internal("unexpected converted manifest: " + converted.bytes);
  }
  for (size_t i = 0; i < 2; ++i) {
    const json& layer = m["layers"][i];
    p->converted_layers.push_back(layer.value("digest", ""));
    if (p->converted_layers[i] == p->original_layers[i] || !layer.contains("annotations") ||
        !layer["annotations"].contains(kSeekableAnnotation)) {
      return Status::Internal("layer " + std::to_string(i) + " was not converted: " + layer.dump());
    }
  }
  return Status::Ok();
}

class LegacyRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_reason_ = new std::string("needs root (the test starts dockerd and containerd)");
      return;
    }
    const char* layer = std::getenv("STARLIGHT_ROOTFS_LAYER");
    if (layer == nullptr || *layer == '\0') {
      skip_reason_ = new std::string(
          "STARLIGHT_ROOTFS_LAYER is not set: point it at a Debian rootfs layer made by "
          "tools/make-rootfs-layer.sh (tools/test.sh does)");
      return;
    }
    prepared_ = new Prepared;
    work_ = new testing::TempDir;
    auto registry = testing::RegistryFixture::Start(testing::RegistryOptions{});
    Status s = registry.ok() ? Status::Ok() : registry.status();
    if (s.ok()) {
      prepared_->registry = std::move(registry).value();
      s = Prepare(layer, work_->path(), prepared_);
    }
    if (!s.ok()) setup_error_ = new std::string(s.ToString());
  }
  static void TearDownTestSuite() {
    delete prepared_;  // stops the registry
    delete work_;
    delete skip_reason_;
    delete setup_error_;
    prepared_ = nullptr;
    work_ = nullptr;
    skip_reason_ = setup_error_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(setup_error_, nullptr) << "preparing the image: " << *setup_error_;
  }

  // The output of the image's Cmd: the generated file, then a Debian version ("12.5").
  static void ExpectCmdOutput(const std::string& output) {
    EXPECT_TRUE(std::regex_match(output, std::regex(std::string(kHello) + "[0-9]+\\.[0-9]+\n")))
        << output;
  }
  static void ExpectProbeOutput(const std::string& output) {
    std::string expected = prepared_->data_sha256 + "  " + kDataPath + "\n" + kHello + kHello +
                           "0\nmotd-whited-out\nbase-files 12";
    EXPECT_EQ(output.substr(0, expected.size()), expected) << output;
  }

  static Prepared* prepared_;
  static testing::TempDir* work_;
  static std::string* skip_reason_;
  static std::string* setup_error_;
};

Prepared* LegacyRuntimeTest::prepared_ = nullptr;
testing::TempDir* LegacyRuntimeTest::work_ = nullptr;
std::string* LegacyRuntimeTest::skip_reason_ = nullptr;
std::string* LegacyRuntimeTest::setup_error_ = nullptr;

TEST_F(LegacyRuntimeTest, DockerPullsAndRunsTheConvertedImage) {
  const Prepared& p = *prepared_;
  auto start = Clock::now();
  auto dockerd = testing::DockerdFixture::Start();
  ASSERT_TRUE(dockerd.ok()) << dockerd.status().ToString();
  testing::DockerdFixture& d = **dockerd;
  auto log = [&d] { return "\ndockerd log:\n" + d.LogTail(); };

  // The converted image first, into an empty daemon: every seekable blob is downloaded and
  // extracted by Docker itself (and its diffID checked against the config by Docker).
  auto pull = d.Docker({"pull", p.converted_ref}, std::chrono::minutes(10));
  ASSERT_TRUE(Succeeded(pull)) << Describe(pull) << log();
  auto digests = d.Docker({"image", "inspect", "-f", "{{json .RepoDigests}}", p.converted_ref});
  ASSERT_TRUE(Succeeded(digests)) << Describe(digests);
  EXPECT_NE(
      digests->output.find(p.registry->host() + "/" + kRepo + "@" + p.converted_manifest_digest),
      std::string::npos)
      << digests->output;
  auto layers = d.Docker({"image", "inspect", "-f", "{{json .RootFS.Layers}}", p.converted_ref});
  ASSERT_TRUE(Succeeded(layers)) << Describe(layers);
  EXPECT_EQ(json::parse(layers->output, nullptr, false), json(p.diff_ids)) << layers->output;

  auto cmd = d.Docker({"run", "--rm", "--network", "none", p.converted_ref});
  ASSERT_TRUE(Succeeded(cmd)) << Describe(cmd) << log();
  ExpectCmdOutput(cmd->output);
  auto probe =
      d.Docker({"run", "--rm", "--network", "none", p.converted_ref, "sh", "-c", kProbeScript});
  ASSERT_TRUE(Succeeded(probe)) << Describe(probe) << log();
  ExpectProbeOutput(probe->output);

  // The original has the same config, hence the same image ID (= the config digest).
  auto pull_original = d.Docker({"pull", p.original_ref}, std::chrono::minutes(10));
  ASSERT_TRUE(Succeeded(pull_original)) << Describe(pull_original) << log();
  auto ids = d.Docker({"image", "inspect", "-f", "{{.Id}}", p.converted_ref, p.original_ref});
  ASSERT_TRUE(Succeeded(ids)) << Describe(ids);
  EXPECT_EQ(ids->output, p.config_digest + "\n" + p.config_digest + "\n");
  auto original_layers =
      d.Docker({"image", "inspect", "-f", "{{json .RootFS.Layers}}", p.original_ref});
  ASSERT_TRUE(Succeeded(original_layers)) << Describe(original_layers);
  EXPECT_EQ(json::parse(original_layers->output, nullptr, false), json(p.diff_ids));

  Status stopped = d.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  std::printf("[ timing ] docker part (start, 2 pulls, 2 runs, stop) %.1f s\n", Seconds(start));
}

// `ctr snapshots ls` keys (the header line dropped).
std::set<std::string> SnapshotKeys(const std::string& listing) {
  std::set<std::string> keys;
  std::istringstream lines(listing);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key;
    if (words >> key) keys.insert(key);
  }
  return keys;
}

TEST_F(LegacyRuntimeTest, ContainerdPullsAndRunsTheConvertedImage) {
  const Prepared& p = *prepared_;
  auto start = Clock::now();
  auto containerd = testing::ContainerdFixture::Start();
  ASSERT_TRUE(containerd.ok()) << containerd.status().ToString();
  testing::ContainerdFixture& c = **containerd;
  auto log = [&c] { return "\ncontainerd log:\n" + c.LogTail(); };
  auto run = [&c](const std::string& image, const std::string& id,
                  const std::vector<std::string>& command) {
    std::vector<std::string> args = {"run", "--rm"};
    for (const auto& flag : c.RunFlags(id)) args.push_back(flag);
    args.push_back(image);
    args.push_back(id);
    args.insert(args.end(), command.begin(), command.end());
    return c.Ctr(args);
  };

  // Converted first, into an empty containerd: it fetches the seekable blobs and unpacks them
  // into overlayfs snapshots (checking each diffID against the config).
  auto pull = c.Ctr({"images", "pull", "--plain-http", p.converted_ref}, std::chrono::minutes(10));
  ASSERT_TRUE(Succeeded(pull)) << Describe(pull) << log();
  auto content = c.Ctr({"content", "ls", "-q"});
  ASSERT_TRUE(Succeeded(content)) << Describe(content);
  for (const auto& digest : p.converted_layers) {
    EXPECT_NE(content->output.find(digest), std::string::npos) << digest;
  }

  auto cmd = run(p.converted_ref, "cmd", {});
  ASSERT_TRUE(Succeeded(cmd)) << Describe(cmd) << log();
  ExpectCmdOutput(cmd->output);
  auto probe = run(p.converted_ref, "probe", {"sh", "-c", kProbeScript});
  ASSERT_TRUE(Succeeded(probe)) << Describe(probe) << log();
  ExpectProbeOutput(probe->output);

  // The original shares the diffIDs, hence the snapshot chain: pulling it unpacks nothing new.
  auto before = c.Ctr({"snapshots", "ls"});
  ASSERT_TRUE(Succeeded(before)) << Describe(before);
  auto pull_original =
      c.Ctr({"images", "pull", "--plain-http", p.original_ref}, std::chrono::minutes(10));
  ASSERT_TRUE(Succeeded(pull_original)) << Describe(pull_original) << log();
  auto after = c.Ctr({"snapshots", "ls"});
  ASSERT_TRUE(Succeeded(after)) << Describe(after);
  EXPECT_EQ(SnapshotKeys(before->output).size(), 2u) << before->output;
  EXPECT_EQ(SnapshotKeys(after->output), SnapshotKeys(before->output)) << after->output;
  auto original_cmd = run(p.original_ref, "original", {});
  ASSERT_TRUE(Succeeded(original_cmd)) << Describe(original_cmd) << log();
  ExpectCmdOutput(original_cmd->output);

  Status stopped = c.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  std::printf("[ timing ] containerd part (start, 2 pulls, 3 runs, stop) %.1f s\n", Seconds(start));
}

}  // namespace
}  // namespace starlight::converter
