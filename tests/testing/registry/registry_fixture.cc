#include "tests/testing/registry/registry_fixture.h"

#include <crypt.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/testing/registry/pki.h"
#include "tests/testing/registry/process.h"
#include "tests/testing/registry/token_server.h"

namespace starlight::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kService[] = "starlight-test-registry";
constexpr char kIssuer[] = "starlight-test-token-server";
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr int kStartAttempts = 5;     // fresh ports tried by Start
constexpr int kRestartAttempts = 30;  // tries (100 ms apart) to get the same port back

// A YAML scalar: a JSON string is a valid YAML double-quoted scalar.
std::string Quote(const std::string& s) { return nlohmann::json(s).dump(); }

Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Status::IoError("writing " + path);
  return Status::Ok();
}

// An htpasswd line with a bcrypt hash (libxcrypt's $2b$, which docker-registry's Go bcrypt
// accepts), at the minimum cost: the registry checks it on every request.
Result<std::string> HtpasswdLine(const std::string& user, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, setting, sizeof(setting)) == nullptr) {
    return Status::FromErrno("crypt_gensalt $2b$", errno);
  }
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_r(password.c_str(), setting, data.get());
  if (hash == nullptr || hash[0] == '*') return Status::FromErrno("bcrypt", errno);
  return user + ":" + hash + "\n";
}

std::string ReadSuffix(const std::string& path, std::streamoff from) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(from);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::streamoff FileSize(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::streamoff>(size);
}

}  // namespace

struct RegistryFixture::Impl {
  RegistryOptions options;
  std::string dir;
  std::string config_path, log_path, storage_dir;
  std::string ca_path, tls_cert_path, tls_key_path;  // TLS only
  std::string htpasswd_path;                         // kBasic only
  std::string token_cert_path;                       // kToken only
  std::string http_secret = pki::RandomHex(16);
  std::unique_ptr<TokenServer> token_server;
  int port = 0;
  pid_t pid = -1;

  ~Impl() {
    StopRegistry(kStopGrace);
    token_server.reset();
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

  std::string Scheme() const { return options.tls ? "https" : "http"; }
  std::string Host() const { return "127.0.0.1:" + std::to_string(port); }

  void StopRegistry(std::chrono::milliseconds grace) {
    if (pid > 0) process::Stop(pid, grace);
    pid = -1;
  }

  Status PrepareFiles() {
    std::string tmpl = fs::temp_directory_path().string() + "/starlight-registry-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp " + tmpl, errno);
    dir = tmpl;
    config_path = dir + "/config.yml";
    log_path = dir + "/registry.log";
    storage_dir = dir + "/storage";
    std::error_code ec;
    fs::create_directory(storage_dir, ec);
    if (ec) return Status::IoError("creating " + storage_dir + ": " + ec.message());

    pki::PkeyPtr ca_key;
    pki::X509Ptr ca_cert;
    if (options.tls) {
      SL_ASSIGN_OR_RETURN(ca_key, pki::GenerateP256Key());
      pki::CertSpec ca_spec;
      ca_spec.common_name = "Starlight test CA";
      ca_spec.is_ca = true;
      SL_ASSIGN_OR_RETURN(ca_cert, pki::MakeCert(ca_spec, ca_key.get(), nullptr, ca_key.get()));
      SL_ASSIGN_OR_RETURN(pki::PkeyPtr key, pki::GenerateP256Key());
      pki::CertSpec spec;
      spec.common_name = "127.0.0.1";
      spec.server_auth = true;
      spec.dns = {"localhost"};
      spec.ips = {"127.0.0.1"};
      SL_ASSIGN_OR_RETURN(pki::X509Ptr cert,
                          pki::MakeCert(spec, key.get(), ca_cert.get(), ca_key.get()));
      ca_path = dir + "/ca.crt";
      tls_cert_path = dir + "/server.crt";
      tls_key_path = dir + "/server.key";
      SL_RETURN_IF_ERROR(pki::WriteCertPem(ca_path, ca_cert.get()));
      SL_RETURN_IF_ERROR(pki::WriteCertPem(tls_cert_path, cert.get()));
      SL_RETURN_IF_ERROR(pki::WriteKeyPem(tls_key_path, key.get()));
    }
    if (options.auth != RegistryOptions::kNone &&
        (options.user.empty() || options.user.find(':') != std::string::npos)) {
      return Status::InvalidArgument("registry fixture: user must be non-empty, without ':'");
    }
    if (options.auth == RegistryOptions::kBasic) {
      htpasswd_path = dir + "/htpasswd";
      SL_ASSIGN_OR_RETURN(std::string line, HtpasswdLine(options.user, options.password));
      SL_RETURN_IF_ERROR(WriteTextFile(htpasswd_path, line));
    }
    if (options.auth == RegistryOptions::kToken) {
      // Self-signed, so that it can be both the x5c chain and the root the registry trusts.
      SL_ASSIGN_OR_RETURN(pki::PkeyPtr key, pki::GenerateP256Key());
      pki::CertSpec spec;
      spec.common_name = "Starlight test token signer";
      SL_ASSIGN_OR_RETURN(pki::X509Ptr cert, pki::MakeCert(spec, key.get(), nullptr, key.get()));
      token_cert_path = dir + "/token-signer.crt";
      SL_RETURN_IF_ERROR(pki::WriteCertPem(token_cert_path, cert.get()));
      TokenServerOptions t;
      t.tls_cert_path = tls_cert_path;
      t.tls_key_path = tls_key_path;
      t.user = options.user;
      t.password = options.password;
      t.service = kService;
      t.issuer = kIssuer;
      t.ttl_seconds = options.token_ttl_seconds;
      t.include_x5c = options.token_x5c;
      t.signing_key = std::move(key);
      t.signing_cert = std::move(cert);
      SL_ASSIGN_OR_RETURN(token_server, TokenServer::Start(std::move(t)));
    }
    return Status::Ok();
  }

  Status WriteConfig() {
    std::ostringstream y;
    y << "version: 0.1\n"
      << "log:\n"
      << "  level: warn\n"
      << "  formatter: text\n"
      << "storage:\n"
      << "  filesystem:\n"
      << "    rootdirectory: " << Quote(storage_dir) << "\n"
      << "  delete:\n"
      << "    enabled: true\n"
      << "  maintenance:\n"
      << "    uploadpurging:\n"
      << "      enabled: false\n"
      << "http:\n"
      << "  addr: " << Quote(Host()) << "\n"
      << "  secret: " << Quote(http_secret) << "\n";
    if (options.tls) {
      y << "  tls:\n"
        << "    certificate: " << Quote(tls_cert_path) << "\n"
        << "    key: " << Quote(tls_key_path) << "\n";
    }
    if (options.auth == RegistryOptions::kBasic) {
      y << "auth:\n"
        << "  htpasswd:\n"
        << "    realm: \"starlight-test\"\n"
        << "    path: " << Quote(htpasswd_path) << "\n";
    } else if (options.auth == RegistryOptions::kToken) {
      y << "auth:\n"
        << "  token:\n"
        << "    realm: " << Quote(token_server->realm()) << "\n"
        << "    service: " << Quote(kService) << "\n"
        << "    issuer: " << Quote(kIssuer) << "\n"
        << "    rootcertbundle: " << Quote(token_cert_path) << "\n";
    }
    if (!options.notify_url.empty()) {
      y << "notifications:\n"
        << "  endpoints:\n"
        << "    - name: \"starlight-test\"\n"
        << "      url: " << Quote(options.notify_url) << "\n";
      if (!options.notify_headers.empty()) {
        y << "      headers:\n";
        for (const auto& [k, v] : options.notify_headers) {
          y << "        " << Quote(k) << ": [" << Quote(v) << "]\n";
        }
      }
      y << "      timeout: 5s\n"
        << "      threshold: 3\n"
        << "      backoff: 500ms\n"
        << "      ignoredmediatypes:\n"
        << "        - application/octet-stream\n";
    }
    return WriteTextFile(config_path, y.str());
  }

  // One launch on `port`. *port_taken tells a failure caused by another listener on the port.
  Status LaunchOnce(bool* port_taken) {
    *port_taken = false;
    SL_RETURN_IF_ERROR(WriteConfig());
    std::streamoff log_start = FileSize(log_path);
    process::SpawnOptions spawn;
    spawn.output_path = log_path;
    spawn.drop_env_prefixes = {"REGISTRY_"};  // they would override the config file
    SL_ASSIGN_OR_RETURN(pid,
                        process::Spawn({options.registry_binary, "serve", config_path}, spawn));
    Status ready = WaitReady();
    if (ready.ok()) return ready;
    StopRegistry(std::chrono::milliseconds(0));
    std::string log = ReadSuffix(log_path, log_start);
    *port_taken = log.find("address already in use") != std::string::npos;
    return ready.WithContext("docker-registry on " + Host() + " (log " + log_path + ": " +
                             process::TailOfFile(log_path) + ")");
  }

  Status WaitReady() {
    auto deadline = Clock::now() + std::chrono::seconds(options.ready_timeout_seconds);
    for (;;) {
      if (!process::Alive(pid)) return Status::Unavailable("exited before it answered /v2/");
      httplib::Client client(Scheme() + "://" + Host());
      if (options.tls) {
        client.set_ca_cert_path(ca_path.c_str());
        client.enable_server_certificate_verification(true);
      }
      client.set_connection_timeout(std::chrono::seconds(1));
      client.set_read_timeout(std::chrono::seconds(2));
      if (auto res = client.Get("/v2/")) return Status::Ok();  // 200 and 401 both mean "up"
      if (Clock::now() >= deadline) {
        return Status::Unavailable("GET /v2/ did not answer within " +
                                   std::to_string(options.ready_timeout_seconds) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

RegistryFixture::RegistryFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryFixture::~RegistryFixture() = default;

Result<std::unique_ptr<RegistryFixture>> RegistryFixture::Start(const RegistryOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (::access(options.registry_binary.c_str(), X_OK) != 0) {
    return Status::NotFound(options.registry_binary +
                            " not found: install Debian's docker-registry (tools/install-deps.sh)");
  }
  // On failure `impl` dies here, which stops whatever was started and removes the directory.
  SL_RETURN_IF_ERROR(impl->PrepareFiles().WithContext("registry fixture"));
  Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    SL_ASSIGN_OR_RETURN(impl->port, process::PickFreePort());
    bool port_taken = false;
    last = impl->LaunchOnce(&port_taken);
    if (last.ok()) return std::unique_ptr<RegistryFixture>(new RegistryFixture(std::move(impl)));
    if (!port_taken) break;
  }
  return last.WithContext("registry fixture");
}

const RegistryOptions& RegistryFixture::options() const { return impl_->options; }
std::string RegistryFixture::host() const { return impl_->Host(); }
std::string RegistryFixture::url() const { return impl_->Scheme() + "://" + impl_->Host(); }
std::string RegistryFixture::ca_cert_path() const { return impl_->ca_path; }
std::string RegistryFixture::token_realm() const {
  return impl_->token_server ? impl_->token_server->realm() : "";
}
std::string RegistryFixture::token_service() const { return impl_->token_server ? kService : ""; }
std::string RegistryFixture::token_issuer() const { return impl_->token_server ? kIssuer : ""; }
int RegistryFixture::token_requests() const {
  return impl_->token_server ? impl_->token_server->requests() : 0;
}
std::string RegistryFixture::temp_dir() const { return impl_->dir; }
std::string RegistryFixture::storage_dir() const { return impl_->storage_dir; }
std::string RegistryFixture::log_path() const { return impl_->log_path; }
int RegistryFixture::pid() const { return impl_->pid; }

void RegistryFixture::Kill() { impl_->StopRegistry(std::chrono::milliseconds(0)); }

Status RegistryFixture::Restart() {
  impl_->StopRegistry(kStopGrace);
  Status last;
  for (int attempt = 0; attempt < kRestartAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    bool port_taken = false;
    last = impl_->LaunchOnce(&port_taken);
    if (last.ok() || !port_taken) break;
  }
  return last.WithContext("registry fixture restart");
}

}  // namespace starlight::testing
