#include "tests/testing/registry/registry_fixture.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/digest/digest.h"
#include "tests/testing/registry/pki.h"
#include "tests/testing/registry/process.h"
#include "tests/testing/registry/test_image.h"

namespace starlight::testing {
namespace {

using nlohmann::json;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";

std::unique_ptr<RegistryFixture> StartOrDie(const RegistryOptions& options) {
  auto fixture = RegistryFixture::Start(options);
  if (!fixture.ok()) ADD_FAILURE() << fixture.status().ToString();
  return fixture.ok() ? std::move(fixture).value() : nullptr;
}

// A client for `base` (scheme://host:port) that verifies TLS against the fixture's CA.
std::unique_ptr<httplib::Client> ClientFor(const std::string& base, const RegistryFixture& r) {
  auto client = std::make_unique<httplib::Client>(base);
  if (r.options().tls) {
    client->set_ca_cert_path(r.ca_cert_path().c_str());
    client->enable_server_certificate_verification(true);
  }
  client->set_connection_timeout(std::chrono::seconds(2));
  client->set_read_timeout(std::chrono::seconds(10));
  return client;
}

// Splits `Bearer realm="r",service="s",scope="x"` into its parameters (plus "scheme").
std::map<std::string, std::string> ParseChallenge(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t space = header.find(' ');
  out["scheme"] = header.substr(0, space);
  size_t i = space == std::string::npos ? header.size() : space + 1;
  while (i < header.size()) {
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = header.substr(i, eq - i);
    size_t end;
    std::string value;
    if (eq + 1 < header.size() && header[eq + 1] == '"') {
      end = header.find('"', eq + 2);
      value = header.substr(eq + 2, end - eq - 2);
      end = end == std::string::npos ? header.size() : end + 1;
    } else {
      end = std::min(header.find(',', eq), header.size());
      value = header.substr(eq + 1, end - eq - 1);
    }
    out[key] = value;
    i = end < header.size() && header[end] == ',' ? end + 1 : end;
  }
  return out;
}

std::string Base64UrlDecode(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  auto decoded = pki::Base64Decode(text);
  return decoded.ok() ? *decoded : "";
}

// {header, claims} of a JWT.
std::pair<json, json> DecodeJwt(const std::string& jwt) {
  size_t a = jwt.find('.'), b = jwt.rfind('.');
  return {json::parse(Base64UrlDecode(jwt.substr(0, a))),
          json::parse(Base64UrlDecode(jwt.substr(a + 1, b - a - 1)))};
}

std::string QueryEscape(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string TokenPath(const RegistryFixture& r, const std::vector<std::string>& scopes) {
  std::string path = "/token?service=" + QueryEscape(r.token_service());
  for (const auto& s : scopes) path += "&scope=" + QueryEscape(s);
  return path;
}

// GETs a token from the fixture's realm with basic credentials; "" on failure.
std::string FetchToken(const RegistryFixture& r, const std::vector<std::string>& scopes,
                       json* body = nullptr) {
  std::string realm = r.token_realm();
  auto client = ClientFor(realm.substr(0, realm.find("/token")), r);
  client->set_basic_auth(r.options().user.c_str(), r.options().password.c_str());
  auto res = client->Get(TokenPath(r, scopes).c_str());
  if (!res || res->status != 200) {
    ADD_FAILURE() << "token request failed: " << (res ? res->status : -1);
    return "";
  }
  json j = json::parse(res->body);
  if (body != nullptr) *body = j;
  return j.value("token", "");
}

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// Pushes `data` as a blob of `repo` (POST then PUT ?digest=) and returns the final status.
int PushBlob(httplib::Client& client, const RegistryFixture& r, const std::string& repo,
             const std::string& data, const httplib::Headers& auth) {
  auto start = client.Post(("/v2/" + repo + "/blobs/uploads/").c_str(), auth, "", "");
  if (!start) return -1;
  if (start->status != 202) return start->status;
  std::string location = start->get_header_value("Location");
  if (location.rfind(r.url(), 0) == 0) location = location.substr(r.url().size());
  location += (location.find('?') == std::string::npos ? "?" : "&");
  location += "digest=" + QueryEscape(digest::Sha256Of(data).ToString());
  auto put = client.Put(location.c_str(), auth, data, "application/octet-stream");
  return put ? put->status : -1;
}

bool ProcessGone(int pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST(RegistryFixtureTest, PlainAnonymous) {
  auto r = StartOrDie({});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->url(), "http://" + r->host());
  EXPECT_EQ(r->host().rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(r->ca_cert_path(), "");
  EXPECT_EQ(r->token_realm(), "");
  auto client = ClientFor(r->url(), *r);
  auto res = client->Get("/v2/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Docker-Distribution-Api-Version"), "registry/2.0");
  EXPECT_EQ(PushBlob(*client, *r, "plain/blob", "some bytes", {}), 201);
  auto blob =
      client->Get(("/v2/plain/blob/blobs/" + digest::Sha256Of("some bytes").ToString()).c_str());
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->status, 200);
  EXPECT_EQ(blob->body, "some bytes");
}

TEST(RegistryFixtureTest, TlsWithBasicAuth) {
  RegistryOptions options;
  options.auth = RegistryOptions::kBasic;
  options.tls = true;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->url(), "https://" + r->host());
  ASSERT_TRUE(std::filesystem::exists(r->ca_cert_path()));

  auto client = ClientFor(r->url(), *r);
  auto anonymous = client->Get("/v2/");
  ASSERT_TRUE(anonymous) << httplib::to_string(anonymous.error());
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(ParseChallenge(anonymous->get_header_value("WWW-Authenticate"))["scheme"], "Basic");

  client->set_basic_auth(options.user.c_str(), "wrong");
  auto wrong = client->Get("/v2/");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);

  client->set_basic_auth(options.user.c_str(), options.password.c_str());
  auto ok = client->Get("/v2/");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);

  // The certificate really is checked: against the system CAs the handshake fails.
  httplib::Client untrusting(r->url());
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
  auto untrusted = untrusting.Get("/v2/");
  EXPECT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error(), httplib::Error::SSLServerVerification);
  // ... and it is valid for "localhost" too.
  httplib::Client by_name("https://localhost:" + r->host().substr(r->host().find(':') + 1));
  by_name.set_ca_cert_path(r->ca_cert_path().c_str());
  by_name.enable_server_certificate_verification(true);
  auto named = by_name.Get("/v2/");
  ASSERT_TRUE(named) << httplib::to_string(named.error());
  EXPECT_EQ(named->status, 401);
}

TEST(RegistryFixtureTest, BasicAuthWithoutTls) {
  RegistryOptions options;
  options.auth = RegistryOptions::kBasic;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  auto client = ClientFor(r->url(), *r);
  auto anonymous = client->Get("/v2/");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  client->set_basic_auth(options.user.c_str(), options.password.c_str());
  auto ok = client->Get("/v2/");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(RegistryFixtureTest, TokenAuthChallengeTokenAndBlobs) {
  RegistryOptions options;
  options.auth = RegistryOptions::kToken;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->token_requests(), 0);
  auto client = ClientFor(r->url(), *r);

  auto base = client->Get("/v2/");
  ASSERT_TRUE(base);
  EXPECT_EQ(base->status, 401);
  auto challenge = ParseChallenge(base->get_header_value("WWW-Authenticate"));
  EXPECT_EQ(challenge["scheme"], "Bearer");
  EXPECT_EQ(challenge["realm"], r->token_realm());
  EXPECT_EQ(challenge["service"], r->token_service());

  auto manifest = client->Get("/v2/team/app/manifests/latest");
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->status, 401);
  challenge = ParseChallenge(manifest->get_header_value("WWW-Authenticate"));
  EXPECT_EQ(challenge["scope"], "repository:team/app:pull");

  // Refused credentials are counted as requests too.
  auto token_client = ClientFor(r->token_realm().substr(0, r->token_realm().find("/token")), *r);
  auto refused = token_client->Get(TokenPath(*r, {"repository:team/app:pull"}).c_str());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  token_client->set_basic_auth(options.user.c_str(), "wrong");
  refused = token_client->Get(TokenPath(*r, {"repository:team/app:pull"}).c_str());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(r->token_requests(), 2);

  json body;
  std::string token = FetchToken(*r, {"repository:team/app:pull,push"}, &body);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(r->token_requests(), 3);
  EXPECT_EQ(body["access_token"], token);
  EXPECT_EQ(body["expires_in"], 300);
  EXPECT_TRUE(body["issued_at"].is_string());
  auto [header, claims] = DecodeJwt(token);
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["x5c"].size(), 1u);
  EXPECT_EQ(header["kid"].get<std::string>().size(), 59u);  // 12 groups of 4, 11 colons
  EXPECT_EQ(claims["iss"], r->token_issuer());
  EXPECT_EQ(claims["sub"], options.user);
  EXPECT_EQ(claims["aud"], r->token_service());
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 300);
  EXPECT_LE(claims["nbf"].get<int64_t>(), claims["iat"].get<int64_t>());
  EXPECT_FALSE(claims["jti"].get<std::string>().empty());
  EXPECT_EQ(claims["access"],
            json::parse(R"([{"type":"repository","name":"team/app","actions":["pull","push"]}])"));

  auto authorized = client->Get("/v2/", Bearer(token));
  ASSERT_TRUE(authorized);
  EXPECT_EQ(authorized->status, 200);
  EXPECT_EQ(PushBlob(*client, *r, "team/app", "blob bytes", Bearer(token)), 201);
  auto blob = client->Get(
      ("/v2/team/app/blobs/" + digest::Sha256Of("blob bytes").ToString()).c_str(), Bearer(token));
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->status, 200);
  EXPECT_EQ(blob->body, "blob bytes");

  // The access claim is enforced: a pull-only token cannot push, nor read another repository.
  std::string pull_only = FetchToken(*r, {"repository:team/app:pull"});
  EXPECT_EQ(PushBlob(*client, *r, "team/app", "more", Bearer(pull_only)), 401);
  auto other =
      client->Get(("/v2/team/other/blobs/" + digest::Sha256Of("blob bytes").ToString()).c_str(),
                  Bearer(pull_only));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 401);
  EXPECT_EQ(r->token_requests(), 4);
}

TEST(RegistryFixtureTest, TokenAuthOverTlsPullsPushedImage) {
  RegistryOptions options;
  options.auth = RegistryOptions::kToken;
  options.tls = true;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->token_realm().rfind("https://127.0.0.1:", 0), 0u);

  auto image = PushTestImage(*r, "team/app", "v1");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->reference, r->host() + "/team/app:v1");
  EXPECT_EQ(image->manifest_digest, image->oci_manifest_digest);  // pushed verbatim
  ASSERT_EQ(image->layers.size(), 1u);
  EXPECT_GT(r->token_requests(), 0);  // skopeo went through the token server

  std::string token = FetchToken(*r, {"repository:team/app:pull"});
  auto client = ClientFor(r->url(), *r);
  httplib::Headers headers = Bearer(token);
  headers.emplace("Accept", kOciManifest);
  auto manifest = client->Get("/v2/team/app/manifests/v1", headers);
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->status, 200);
  EXPECT_EQ(manifest->body, image->oci_manifest);
  EXPECT_EQ(manifest->get_header_value("Docker-Content-Digest"), image->manifest_digest);
  auto layer =
      client->Get(("/v2/team/app/blobs/" + image->layers[0].digest).c_str(), Bearer(token));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, 200);
  EXPECT_EQ(layer->body, image->layers[0].blob);
  auto config = client->Get(("/v2/team/app/blobs/" + image->config_digest).c_str(), Bearer(token));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->body, image->config);
}

TEST(RegistryFixtureTest, TokenKeyFoundByKidWithoutX5c) {
  RegistryOptions options;
  options.auth = RegistryOptions::kToken;
  options.token_x5c = false;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  std::string token = FetchToken(*r, {});
  ASSERT_FALSE(token.empty());
  auto [header, claims] = DecodeJwt(token);
  EXPECT_FALSE(header.contains("x5c"));
  EXPECT_TRUE(claims["access"].empty());
  auto res = ClientFor(r->url(), *r)->Get("/v2/", Bearer(token));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << "registry did not accept the libtrust kid " << header["kid"];
}

TEST(RegistryFixtureTest, TokenLifetimeAndOAuthGrants) {
  RegistryOptions options;
  options.auth = RegistryOptions::kToken;
  options.token_ttl_seconds = 1;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  json body;
  std::string token = FetchToken(*r, {"repository:a:pull repository:b:push"}, &body);
  EXPECT_EQ(body["expires_in"], 1);
  auto [header, claims] = DecodeJwt(token);
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 1);
  EXPECT_EQ(claims["access"].size(), 2u);

  // OAuth2 password grant, then refresh-token grant (what clients with stored refresh tokens use).
  std::string realm = r->token_realm();
  auto client = ClientFor(realm.substr(0, realm.find("/token")), *r);
  httplib::Params form = {{"grant_type", "password"},      {"username", options.user},
                          {"password", options.password},  {"service", r->token_service()},
                          {"client_id", "starlight-test"}, {"scope", "repository:a:pull"}};
  auto res = client->Post("/token", form);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json granted = json::parse(res->body);
  ASSERT_TRUE(granted.contains("refresh_token"));
  httplib::Params refresh = {{"grant_type", "refresh_token"},
                             {"refresh_token", granted["refresh_token"].get<std::string>()},
                             {"service", r->token_service()},
                             {"scope", "repository:a:pull"}};
  res = client->Post("/token", refresh);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  refresh.erase("refresh_token");
  refresh.emplace("refresh_token", "bogus");
  res = client->Post("/token", refresh);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(r->token_requests(), 4);
}

TEST(RegistryFixtureTest, KillAndRestartKeepStorage) {
  auto r = StartOrDie({});
  ASSERT_NE(r, nullptr);
  TestImageOptions v2s2;
  v2s2.docker_schema2 = true;
  auto image = PushTestImage(*r, "crash/app", "v1", v2s2);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  std::string host = r->host();
  int old_pid = r->pid();
  ASSERT_GT(old_pid, 0);

  r->Kill();
  EXPECT_EQ(r->pid(), -1);
  EXPECT_TRUE(ProcessGone(old_pid));
  auto client = ClientFor(r->url(), *r);
  EXPECT_FALSE(client->Get("/v2/"));

  ASSERT_TRUE(r->Restart().ok());
  EXPECT_EQ(r->host(), host);
  EXPECT_NE(r->pid(), old_pid);
  auto manifest =
      ClientFor(r->url(), *r)->Get("/v2/crash/app/manifests/v1", {{"Accept", kDockerManifest}});
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->status, 200);
  EXPECT_EQ(manifest->get_header_value("Content-Type"), kDockerManifest);
  EXPECT_EQ(manifest->get_header_value("Docker-Content-Digest"), image->manifest_digest);
  EXPECT_NE(image->manifest_digest, image->oci_manifest_digest);  // converted by skopeo

  // Restart of a running registry works too.
  ASSERT_TRUE(r->Restart().ok());
  EXPECT_TRUE(ClientFor(r->url(), *r)->Get("/v2/"));
}

TEST(RegistryFixtureTest, DestructorLeavesNothingBehind) {
  RegistryOptions options;
  options.auth = RegistryOptions::kToken;
  options.tls = true;
  auto r = StartOrDie(options);
  ASSERT_NE(r, nullptr);
  int pid = r->pid();
  std::string dir = r->temp_dir();
  std::string realm = r->token_realm();
  ASSERT_TRUE(std::filesystem::exists(dir + "/registry.log"));
  r.reset();
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_TRUE(ProcessGone(-pid));  // nor anything in its process group
  EXPECT_FALSE(std::filesystem::exists(dir));
  httplib::Client token_client(realm.substr(0, realm.find("/token")));
  token_client.enable_server_certificate_verification(false);
  token_client.set_connection_timeout(std::chrono::seconds(1));
  EXPECT_FALSE(token_client.Get("/token"));
}

TEST(RegistryFixtureTest, RegistryDiesWithTheThreadThatStartedIt) {
  std::unique_ptr<RegistryFixture> r;
  std::thread([&r] { r = StartOrDie({}); }).join();
  ASSERT_NE(r, nullptr);
  int pid = r->pid();
  // PR_SET_PDEATHSIG fired when the starting thread ended (as it would if the test process died).
  for (int i = 0; i < 500 && process::Alive(pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(process::Alive(pid));
  r.reset();  // reaps it
  EXPECT_TRUE(ProcessGone(pid));
}

TEST(RegistryFixtureTest, StartFailureCarriesTheLogTail) {
  RegistryOptions options;
  options.registry_binary = "/bin/echo";  // prints "serve CONFIG" and exits
  auto r = RegistryFixture::Start(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("exited before it answered"), std::string::npos);
  EXPECT_NE(r.status().message().find("serve /"), std::string::npos) << r.status().ToString();

  options.registry_binary = "/nonexistent/docker-registry";
  r = RegistryFixture::Start(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(RegistryFixtureTest, SendsNotificationsWithHeaders) {
  // A loopback hook that records the envelopes it receives.
  httplib::Server hook;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> events;
  std::string authorization;
  hook.Post("/events", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    authorization = req.get_header_value("Authorization");
    json envelope = json::parse(req.body);
    for (const auto& e : envelope["events"]) events.push_back(e);
    cv.notify_all();
    res.status = 200;
  });
  int port = hook.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { hook.listen_after_bind(); });
  while (!hook.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  RegistryOptions options;
  options.notify_url = "http://127.0.0.1:" + std::to_string(port) + "/events";
  options.notify_headers = {{"Authorization", "Bearer hook-secret"}};
  auto r = StartOrDie(options);
  if (r != nullptr) {
    auto image = PushTestImage(*r, "notify/app", "v1");
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    auto is_manifest_push = [&] {
      for (const auto& e : events) {
        if (e.value("action", "") == "push" && e["target"].value("mediaType", "") == kOciManifest &&
            e["target"].value("repository", "") == "notify/app") {
          return true;
        }
      }
      return false;
    };
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), is_manifest_push))
        << events.size() << " events; registry log: " << process::TailOfFile(r->log_path());
    EXPECT_EQ(authorization, "Bearer hook-secret");
    for (const auto& e : events) {  // blob uploads are filtered out
      EXPECT_NE(e["target"].value("mediaType", ""), "application/octet-stream");
    }
  }
  r.reset();
  hook.stop();
  serving.join();
}

TEST(RegistryFixtureTest, WritesADeterministicOciLayout) {
  auto dir = std::filesystem::temp_directory_path() /
             ("starlight-layout-test-" + std::to_string(::getpid()));
  TestImageOptions options;
  options.layers = {{{"opt/one/a.txt", "a"}}, {{"opt/two/b.txt", "b"}, {"usr/share/c", "c"}}};
  auto image = WriteTestOciLayout(dir.string(), "t1", options);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->layers.size(), 2u);
  // Deterministic: the same input gives the same digests.
  auto again = WriteTestOciLayout(dir.string() + "-again", "t1", options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->oci_manifest_digest, image->oci_manifest_digest);
  EXPECT_TRUE(std::filesystem::exists(dir / "oci-layout"));
  EXPECT_TRUE(std::filesystem::exists(dir / "blobs/sha256" / image->config_digest.substr(7)));
  json config = json::parse(image->config);
  EXPECT_EQ(config["rootfs"]["diff_ids"].size(), 2u);
  TestImageOptions bad;
  bad.layers = {{{"../x", "x"}}};
  EXPECT_FALSE(WriteTestOciLayout(dir.string() + "-bad", "t", bad).ok());
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir.string() + "-again");
  std::filesystem::remove_all(dir.string() + "-bad");
}

}  // namespace
}  // namespace starlight::testing
