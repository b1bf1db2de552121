#include "tests/testing/registry/test_image.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/digest/digest.h"
#include "tests/testing/registry/process.h"

namespace starlight::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kConfigType[] = "application/vnd.oci.image.config.v1+json";
constexpr char kLayerType[] = "application/vnd.oci.image.layer.v1.tar+gzip";

// A temporary directory removed with its content when the object dies.
class ScopedTempDir {
 public:
  ScopedTempDir() = default;
  ~ScopedTempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  Status Create(const std::string& prefix) {
    std::string tmpl = fs::temp_directory_path().string() + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp " + tmpl, errno);
    path_ = tmpl;
    return Status::Ok();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError("cannot open " + path);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Status::IoError("reading " + path);
  return data;
}

Status WriteWholeFile(const std::string& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status::IoError("creating parent of " + path + ": " + ec.message());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) return Status::IoError("writing " + path);
  return Status::Ok();
}

Result<std::string> Which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr && *path != '\0' ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty() || dir[0] != '/') continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Status::NotFound(name + " not found in PATH (tools/install-deps.sh installs it)");
}

// Runs a tool; a non-zero exit becomes an error carrying the tail of its output.
Status RunTool(const std::vector<std::string>& argv, const std::string& output_path,
               const std::string& cwd = "") {
  process::SpawnOptions options;
  options.output_path = output_path;
  options.cwd = cwd;
  SL_ASSIGN_OR_RETURN(int code, process::Run(argv, options));
  if (code != 0) {
    return Status::Internal(argv[0] + " exited with " + std::to_string(code) + ": " +
                            process::TailOfFile(output_path));
  }
  return Status::Ok();
}

Status CheckRelativePath(const std::string& path) {
  fs::path p(path);
  if (path.empty() || p.is_absolute()) {
    return Status::InvalidArgument("test image file path '" + path + "' must be relative");
  }
  for (const auto& part : p) {
    if (part == "..") return Status::InvalidArgument("test image file path '" + path + "'");
  }
  return Status::Ok();
}

Result<TestImageLayer> GzipLayer(const std::string& tar_bytes, const std::string& work);

// One layer: files staged under `work`/root, tarred deterministically, gzipped without name
// or time in the header.
Result<TestImageLayer> BuildLayer(const std::map<std::string, std::string>& files,
                                  const std::string& work) {
  std::string root = work + "/root";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::IoError("creating " + root + ": " + ec.message());
  for (const auto& [path, content] : files) {
    SL_RETURN_IF_ERROR(CheckRelativePath(path));
    SL_RETURN_IF_ERROR(WriteWholeFile(root + "/" + path, content));
  }
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(root)) top.push_back(e.path().filename().string());
  std::sort(top.begin(), top.end());
  if (top.empty()) return Status::InvalidArgument("test image layer without files");
  SL_ASSIGN_OR_RETURN(std::string tar, Which("tar"));
  std::string tar_path = work + "/layer.tar";
  std::vector<std::string> argv = {tar,
                                   "--sort=name",
                                   "--mtime=@0",
                                   "--owner=0",
                                   "--group=0",
                                   "--numeric-owner",
                                   "--format=gnu",
                                   "--mode=u+rwX,go+rX,go-w",
                                   "-C",
                                   root,
                                   "-cf",
                                   tar_path};
  argv.insert(argv.end(), top.begin(), top.end());
  std::string log = work + "/tools.log";
  SL_RETURN_IF_ERROR(RunTool(argv, log));
  SL_ASSIGN_OR_RETURN(std::string tar_bytes, ReadWholeFile(tar_path));
  return GzipLayer(tar_bytes, work);
}

// A layer from its tar bytes: gzip -n -9, digests.
Result<TestImageLayer> GzipLayer(const std::string& tar_bytes, const std::string& work) {
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return Status::IoError("creating " + work + ": " + ec.message());
  SL_ASSIGN_OR_RETURN(std::string gzip, Which("gzip"));
  std::string tar_path = work + "/layer.tar";
  std::string log = work + "/tools.log";
  if (!fs::exists(tar_path)) SL_RETURN_IF_ERROR(WriteWholeFile(tar_path, tar_bytes));
  SL_RETURN_IF_ERROR(RunTool({gzip, "-n", "-9", "-f", tar_path}, log));
  TestImageLayer layer;
  SL_ASSIGN_OR_RETURN(layer.blob, ReadWholeFile(tar_path + ".gz"));
  layer.diff_id = digest::Sha256Of(tar_bytes).ToString();
  layer.digest = digest::Sha256Of(layer.blob).ToString();
  layer.size = static_cast<int64_t>(layer.blob.size());
  return layer;
}

Status WriteBlob(const std::string& layout, const std::string& digest, std::string_view data) {
  return WriteWholeFile(layout + "/blobs/sha256/" + digest.substr(7), data);
}

}  // namespace

Result<TestImage> WriteTestOciLayout(const std::string& dir, const std::string& tag,
                                     const TestImageOptions& options) {
  std::vector<std::map<std::string, std::string>> layers = options.layers;
  if (!options.layer_tars.empty()) layers.assign(options.layer_tars.size(), {});
  if (layers.empty()) {
    std::string data;
    for (int i = 0; i < 4096; ++i) data += static_cast<char>((i * 131 + 7) % 251);
    layers.push_back({{"opt/starlight-test/hello.txt", "hello from a Starlight test image\n"},
                      {"opt/starlight-test/data.bin", data}});
  }
  ScopedTempDir work;
  SL_RETURN_IF_ERROR(work.Create("starlight-test-image"));
  TestImage image;
  json diff_ids = json::array(), history = json::array(), layer_descs = json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string layer_work = work.path() + "/layer" + std::to_string(i);
    SL_ASSIGN_OR_RETURN(TestImageLayer layer, options.layer_tars.empty()
                                                  ? BuildLayer(layers[i], layer_work)
                                                  : GzipLayer(options.layer_tars[i], layer_work));
    diff_ids.push_back(layer.diff_id);
    history.push_back({{"created", "1970-01-01T00:00:00Z"},
                       {"created_by", "starlight test layer " + std::to_string(i)}});
    layer_descs.push_back(
        {{"mediaType", kLayerType}, {"digest", layer.digest}, {"size", layer.size}});
    SL_RETURN_IF_ERROR(WriteBlob(dir, layer.digest, layer.blob));
    image.layers.push_back(std::move(layer));
  }
  json config = {{"created", "1970-01-01T00:00:00Z"},
                 {"architecture", "amd64"},
                 {"os", "linux"},
                 {"config",
                  {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
                   {"Cmd", {"/bin/sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
                 {"history", history}};
  image.config = config.dump();
  image.config_digest = digest::Sha256Of(image.config).ToString();
  SL_RETURN_IF_ERROR(WriteBlob(dir, image.config_digest, image.config));
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kManifestType},
                   {"config",
                    {{"mediaType", kConfigType},
                     {"digest", image.config_digest},
                     {"size", image.config.size()}}},
                   {"layers", layer_descs}};
  image.oci_manifest = manifest.dump();
  image.oci_manifest_digest = digest::Sha256Of(image.oci_manifest).ToString();
  image.manifest_digest = image.oci_manifest_digest;
  SL_RETURN_IF_ERROR(WriteBlob(dir, image.oci_manifest_digest, image.oci_manifest));
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", kManifestType},
                   {"digest", image.oci_manifest_digest},
                   {"size", image.oci_manifest.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  SL_RETURN_IF_ERROR(WriteWholeFile(dir + "/index.json", index.dump()));
  SL_RETURN_IF_ERROR(WriteWholeFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  return image;
}

Result<TestImage> PushTestImage(const RegistryFixture& registry, const std::string& repo,
                                const std::string& tag, const TestImageOptions& options) {
  SL_ASSIGN_OR_RETURN(std::string skopeo, Which("skopeo"));
  ScopedTempDir work;
  SL_RETURN_IF_ERROR(work.Create("starlight-test-push"));
  std::string layout = work.path() + "/layout";
  SL_ASSIGN_OR_RETURN(TestImage image, WriteTestOciLayout(layout, tag, options));
  std::string digest_file = work.path() + "/digest";
  std::vector<std::string> argv = {skopeo,    "--insecure-policy", "copy",
                                   "--quiet", "--digestfile",      digest_file};
  if (options.docker_schema2) argv.insert(argv.end(), {"--format", "v2s2"});
  if (registry.options().tls) {
    std::string certs = work.path() + "/certs";
    std::error_code ec;
    fs::create_directories(certs, ec);
    fs::copy_file(registry.ca_cert_path(), certs + "/ca.crt", ec);
    if (ec) return Status::IoError("copying the registry CA: " + ec.message());
    argv.insert(argv.end(), {"--dest-cert-dir", certs});
  } else {
    argv.push_back("--dest-tls-verify=false");
  }
  if (registry.options().auth != RegistryOptions::kNone) {
    argv.insert(argv.end(),
                {"--dest-creds", registry.options().user + ":" + registry.options().password});
  }
  image.reference = registry.host() + "/" + repo + ":" + tag;
  argv.push_back("oci:" + layout + ":" + tag);
  argv.push_back("docker://" + image.reference);
  Status pushed = RunTool(argv, work.path() + "/skopeo.log", work.path());
  if (!pushed.ok()) return pushed.WithContext("pushing test image " + image.reference);
  SL_ASSIGN_OR_RETURN(std::string digest, ReadWholeFile(digest_file));
  while (!digest.empty() && std::isspace(static_cast<unsigned char>(digest.back()))) {
    digest.pop_back();
  }
  image.manifest_digest = digest;
  return image;
}

}  // namespace starlight::testing
