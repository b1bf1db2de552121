// The registry client against a real docker-registry (tests/testing/registry): anonymous,
// basic auth over TLS, bearer tokens; ranges, uploads, mounts, digest verification.
#include "core/registry/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/io/reader.h"
#include "tests/testing/registry/registry_fixture.h"
#include "tests/testing/registry/test_image.h"

namespace starlight::registry {
namespace {

using testing::RegistryFixture;
using testing::RegistryOptions;

std::unique_ptr<RegistryFixture> StartRegistry(RegistryOptions o = {}) {
  auto r = RegistryFixture::Start(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

ClientOptions OptionsFor(const RegistryFixture& f, bool with_creds = true) {
  ClientOptions o;
  o.plain_http = !f.options().tls;
  o.ca_cert_file = f.ca_cert_path();
  if (with_creds && f.options().auth != RegistryOptions::kNone) {
    o.credentials = {f.options().user, f.options().password};
  }
  o.max_attempts = 2;
  o.initial_backoff_ms = 10;
  return o;
}

std::string Fetch(RegistryClient* c, const std::string& repo, const digest::Digest& d, Status* s) {
  std::string out;
  *s = c->FetchBlob(repo, d, [&](std::string_view b) {
    out.append(b);
    return Status::Ok();
  });
  return out;
}

// Pulls everything of a pushed test image and checks it.
void PullAndCheck(RegistryClient* c, const testing::TestImage& img, const std::string& repo) {
  auto m = c->GetManifest(repo, "v1");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->digest.ToString(), img.manifest_digest);
  auto by_digest = c->GetManifest(repo, img.manifest_digest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().ToString();
  EXPECT_EQ(by_digest->bytes, m->bytes);
  for (const auto& layer : img.layers) {
    auto d = digest::Digest::Parse(layer.digest);
    ASSERT_TRUE(d.ok());
    Status s;
    EXPECT_EQ(Fetch(c, repo, *d, &s), layer.blob);
    EXPECT_TRUE(s.ok()) << s.ToString();
    auto stat = c->StatBlob(repo, *d);
    ASSERT_TRUE(stat.ok()) << stat.status().ToString();
    ASSERT_TRUE(stat->has_value());
    EXPECT_EQ(**stat, static_cast<uint64_t>(layer.size));
    auto range = c->FetchBlobRange(repo, *d, 3, 10);
    ASSERT_TRUE(range.ok()) << range.status().ToString();
    EXPECT_EQ(*range, layer.blob.substr(3, 10));
  }
}

TEST(RegistryClientTest, AnonymousPullRangesAndMissingThings) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  PullAndCheck(c.get(), *img, "team/app");

  auto missing_tag = c->GetManifest("team/app", "nope");
  ASSERT_FALSE(missing_tag.ok());
  EXPECT_EQ(missing_tag.status().code(), Code::kNotFound);
  EXPECT_NE(missing_tag.status().message().find("404"), std::string::npos);
  auto absent = c->StatBlob("team/app", digest::Sha256Of("not there"));
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  Status s;
  Fetch(c.get(), "team/app", digest::Sha256Of("not there"), &s);
  EXPECT_EQ(s.code(), Code::kNotFound);
  // A BlobReader reads through ranges.
  auto d = digest::Digest::Parse(img->layers[0].digest);
  ASSERT_TRUE(d.ok());
  auto reader = NewBlobReader(c.get(), "team/app", *d, img->layers[0].size);
  auto all = io::ReadAllAt(*reader, 0, img->layers[0].size);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, img->layers[0].blob);
}

TEST(RegistryClientTest, UploadsMonolithicChunkedAndMounts) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) ^ (i >> 7));
  digest::Digest d = digest::Sha256Of(data);
  auto src = io::NewStringReader(data);
  ASSERT_TRUE(c->PushBlob("a/one", d, *src).ok());
  Status s;
  EXPECT_EQ(Fetch(c.get(), "a/one", d, &s), data);
  EXPECT_TRUE(s.ok()) << s.ToString();

  std::string other = data + "chunked";
  digest::Digest d2 = digest::Sha256Of(other);
  auto src2 = io::NewStringReader(other);
  PushBlobOptions chunked;
  chunked.chunk_size = 65536;
  Status up = c->PushBlob("a/two", d2, *src2, chunked);
  ASSERT_TRUE(up.ok()) << up.ToString();
  EXPECT_EQ(Fetch(c.get(), "a/two", d2, &s), other);

  PushBlobOptions mount;
  mount.mount_from = "a/one";
  Status m = c->PushBlob("b/three", d, *src, mount);
  ASSERT_TRUE(m.ok()) << m.ToString();
  EXPECT_EQ(Fetch(c.get(), "b/three", d, &s), data);

  // A blob whose bytes do not hash to the digest is refused by the registry.
  auto wrong = io::NewStringReader("something else");
  EXPECT_FALSE(c->PushBlob("a/one", digest::Sha256Of("claimed"), *wrong).ok());
}

TEST(RegistryClientTest, PushManifestVerifiesAndTags) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "src/img", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  auto m = c->GetManifest("src/img", "v1");
  ASSERT_TRUE(m.ok());
  auto pushed = c->PushManifest("src/img", "copy", m->media_type, m->bytes);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(*pushed, m->digest);
  auto back = c->GetManifest("src/img", "copy");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->bytes, m->bytes);
}

TEST(RegistryClientTest, BasicAuthOverTls) {
  RegistryOptions o;
  o.auth = RegistryOptions::kBasic;
  o.tls = true;
  auto reg = StartRegistry(o);
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  PullAndCheck(c.get(), *img, "team/app");

  auto anon = NewRegistryClient(reg->host(), OptionsFor(*reg, /*with_creds=*/false));
  auto r = anon->GetManifest("team/app", "v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_NE(r.status().message().find("requires credentials"), std::string::npos) << r.status().ToString();

  ClientOptions bad = OptionsFor(*reg);
  bad.credentials.password = "wrong";
  auto wrong = NewRegistryClient(reg->host(), bad)->GetManifest("team/app", "v1");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);

  // Without the fixture's CA the certificate is not trusted; with verification off it is used.
  ClientOptions no_ca = OptionsFor(*reg);
  no_ca.ca_cert_file.clear();
  auto untrusted = NewRegistryClient(reg->host(), no_ca)->GetManifest("team/app", "v1");
  EXPECT_FALSE(untrusted.ok());
  no_ca.insecure_skip_tls_verify = true;
  auto insecure = NewRegistryClient(reg->host(), no_ca)->GetManifest("team/app", "v1");
  EXPECT_TRUE(insecure.ok()) << insecure.status().ToString();
}

TEST(RegistryClientTest, BearerTokensAreCachedAndRefreshed) {
  RegistryOptions o;
  o.auth = RegistryOptions::kToken;
  o.token_ttl_seconds = 2;
  auto reg = StartRegistry(o);
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  auto m1 = c->GetManifest("team/app", "v1");
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  uint64_t fetches = c->token_fetches();
  EXPECT_EQ(fetches, 1u);
  auto m2 = c->GetManifest("team/app", "v1");
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(c->token_fetches(), fetches) << "a valid token is re-used";
  // After the token's lifetime a new one is fetched (bounded wait: TTL 2 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  auto m3 = c->GetManifest("team/app", "v1");
  ASSERT_TRUE(m3.ok()) << m3.status().ToString();
  EXPECT_GT(c->token_fetches(), fetches);
  // Push needs a pull,push token: a new scope, a new token.
  auto src = io::NewStringReader("pushed with a token");
  Status s = c->PushBlob("team/app", digest::Sha256Of("pushed with a token"), *src);
  EXPECT_TRUE(s.ok()) << s.ToString();

  ClientOptions bad = OptionsFor(*reg);
  bad.credentials.password = "wrong";
  auto refused = NewRegistryClient(reg->host(), bad)->GetManifest("team/app", "v1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnauthenticated);
}

TEST(RegistryClientTest, DigestMismatchIsAnError) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  // Corrupt the stored layer behind the registry's back (same size, different bytes).
  std::string hex = img->layers[0].digest.substr(7);
  std::string path = reg->storage_dir() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x5a');
  }
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  Status s;
  Fetch(c.get(), "team/app", *digest::Digest::Parse(img->layers[0].digest), &s);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("digest"), std::string::npos);
}

TEST(RegistryClientTest, RegistryDownIsUnavailableAndRecovers) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto c = NewRegistryClient(reg->host(), OptionsFor(*reg));
  reg->Kill();
  auto down = c->GetManifest("team/app", "v1");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  ASSERT_TRUE(reg->Restart().ok());
  auto up = c->GetManifest("team/app", "v1");
  EXPECT_TRUE(up.ok()) << up.status().ToString();
}

}  // namespace
}  // namespace starlight::registry
