// `starlight-convert image` against real docker-registry instances (tests/testing/registry).
#include "converter/image.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/io/reader.h"
#include "core/registry/client.h"
#include "core/seekable/reader.h"
#include "tests/testing/registry/registry_fixture.h"
#include "tests/testing/registry/test_image.h"
#include "tests/testing/temp_dir.h"

namespace starlight::converter {
namespace {

using nlohmann::json;
using testing::RegistryFixture;
using testing::RegistryOptions;

std::unique_ptr<RegistryFixture> StartRegistry(RegistryOptions o = {}) {
  auto r = RegistryFixture::Start(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

registry::ClientOptions ClientFor(const RegistryFixture& f) {
  registry::ClientOptions o;
  o.plain_http = !f.options().tls;
  o.ca_cert_file = f.ca_cert_path();
  if (f.options().auth != RegistryOptions::kNone) o.credentials = {f.options().user, f.options().password};
  o.max_attempts = 2;
  o.initial_backoff_ms = 10;
  return o;
}

ImageOptions Options(const std::string& src, const std::string& dst, const RegistryFixture& reg) {
  ImageOptions o;
  o.source = src;
  o.destination = dst;
  o.source_store.registry = ClientFor(reg);
  o.destination_store.registry = ClientFor(reg);
  o.threads = 2;
  return o;
}

std::string Url(const RegistryFixture& reg, const std::string& repo_tag) {
  return "docker://" + reg.host() + "/" + repo_tag;
}

testing::TestImageOptions TwoLayers() {
  testing::TestImageOptions o;
  o.layers = {{{"opt/app/hello.txt", "hello\n"}, {"opt/app/data.bin", std::string(100000, 'x')}},
              {{"opt/app/conf/a.conf", "a=1\n"}, {"etc/motd", "welcome\n"}}};
  return o;
}

// Downloads a blob and checks it is a valid seekable layer with the given diffID.
void ExpectSeekable(registry::RegistryClient* c, const std::string& repo, const std::string& digest,
                    const std::string& diff_id) {
  std::string blob;
  Status s = c->FetchBlob(repo, *digest::Digest::Parse(digest), [&](std::string_view b) {
    blob.append(b);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reader = io::NewStringReader(blob);
  auto v = seekable::VerifyLayer(*reader);
  ASSERT_TRUE(v.ok()) << digest << ": " << v.status().ToString();
  EXPECT_EQ(v->scan.toc.diff_id.ToString(), diff_id);
}

TEST(ImageTest, ConvertsOciImageRegistryToRegistryAndIsIdempotent) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1", TwoLayers());
  ASSERT_TRUE(img.ok()) << img.status().ToString();

  auto opts = Options(Url(*reg, "team/app:v1"), Url(*reg, "team/app:v1-starlight"), *reg);
  auto r = ConvertImage(opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifests, 1);
  EXPECT_EQ(r->layers, 2);
  EXPECT_EQ(r->converted, 2);
  EXPECT_GT(r->bytes_out, 0u);

  auto c = registry::NewRegistryClient(reg->host(), ClientFor(*reg));
  auto orig = c->GetManifest("team/app", "v1");
  auto conv = c->GetManifest("team/app", "v1-starlight");
  ASSERT_TRUE(orig.ok() && conv.ok());
  EXPECT_EQ(conv->digest.ToString(), r->destination_digest);
  EXPECT_EQ(conv->media_type, orig->media_type) << "OCI stays OCI";
  json o = json::parse(orig->bytes), n = json::parse(conv->bytes);
  EXPECT_EQ(n["config"], o["config"]) << "the config blob is unchanged";
  ASSERT_EQ(n["layers"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NE(n["layers"][i]["digest"], o["layers"][i]["digest"]);
    EXPECT_EQ(n["layers"][i]["mediaType"], o["layers"][i]["mediaType"]);
    EXPECT_EQ(n["layers"][i]["annotations"][kSeekableAnnotation], "1");
    ExpectSeekable(c.get(), "team/app", n["layers"][i]["digest"], img->layers[i].diff_id);
  }

  // Converting the converted image changes nothing: same digest, nothing converted.
  auto again = ConvertImage(Options(Url(*reg, "team/app:v1-starlight"), Url(*reg, "team/app:v1-again"), *reg));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->destination_digest, r->destination_digest);
  EXPECT_EQ(again->converted, 0);
  EXPECT_EQ(again->already_seekable, 2);

  // registry -> OCI layout -> registry gives the same image too.
  testing::TempDir dir;
  std::string layout = "oci:" + dir.Join("layout") + ":conv";
  auto to_oci = ConvertImage(Options(Url(*reg, "team/app:v1"), layout, *reg));
  ASSERT_TRUE(to_oci.ok()) << to_oci.status().ToString();
  EXPECT_EQ(to_oci->destination_digest, r->destination_digest);
  auto back = ConvertImage(Options(layout, Url(*reg, "team/app:v1-via-oci"), *reg));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->destination_digest, r->destination_digest);

  // skopeo (a legacy client) copies the converted image.
  std::string cmd = "skopeo --insecure-policy copy -q --src-tls-verify=false " + Url(*reg, "team/app:v1-starlight") +
                    " oci:" + dir.Join("skopeo") + ":x >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(ImageTest, DockerSchema2StaysDockerWithoutAnnotations) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto o = TwoLayers();
  o.docker_schema2 = true;
  auto img = testing::PushTestImage(*reg, "team/docker", "v1", o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto r = ConvertImage(Options(Url(*reg, "team/docker:v1"), Url(*reg, "team/docker:s"), *reg));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto c = registry::NewRegistryClient(reg->host(), ClientFor(*reg));
  auto conv = c->GetManifest("team/docker", "s");
  ASSERT_TRUE(conv.ok());
  EXPECT_EQ(conv->media_type, registry::kDockerManifest);
  json n = json::parse(conv->bytes);
  for (size_t i = 0; i < n["layers"].size(); ++i) {
    EXPECT_EQ(n["layers"][i]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    EXPECT_FALSE(n["layers"][i].contains("annotations"));
    ExpectSeekable(c.get(), "team/docker", n["layers"][i]["digest"], img->layers[i].diff_id);
  }
}

// An index of two platforms sharing their first layer.
std::string PushIndex(const RegistryFixture& reg, registry::RegistryClient* c) {
  auto a = TwoLayers();
  auto b = TwoLayers();
  b.layers[1] = {{"opt/app/arm.txt", "arm64 build\n"}};
  auto ia = testing::PushTestImage(reg, "multi/app", "amd64", a);
  auto ib = testing::PushTestImage(reg, "multi/app", "arm64", b);
  EXPECT_TRUE(ia.ok() && ib.ok());
  EXPECT_EQ(ia->layers[0].digest, ib->layers[0].digest) << "shared base layer";
  auto ma = c->GetManifest("multi/app", "amd64");
  auto mb = c->GetManifest("multi/app", "arm64");
  EXPECT_TRUE(ma.ok() && mb.ok());
  json index = {{"schemaVersion", 2},
                {"mediaType", registry::kOciIndex},
                {"manifests",
                 {{{"mediaType", ma->media_type}, {"digest", ma->digest.ToString()}, {"size", ma->bytes.size()},
                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
                  {{"mediaType", mb->media_type}, {"digest", mb->digest.ToString()}, {"size", mb->bytes.size()},
                   {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}}}}};
  std::string bytes = index.dump();
  auto pushed = c->PushManifest("multi/app", "v1", registry::kOciIndex, bytes);
  EXPECT_TRUE(pushed.ok()) << pushed.status().ToString();
  return bytes;
}

TEST(ImageTest, MultiPlatformIndexConvertsSharedLayersOnce) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto c = registry::NewRegistryClient(reg->host(), ClientFor(*reg));
  PushIndex(*reg, c.get());
  auto r = ConvertImage(Options(Url(*reg, "multi/app:v1"), Url(*reg, "multi/app:v1-starlight"), *reg));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifests, 2);
  EXPECT_EQ(r->layers, 4);
  EXPECT_EQ(r->converted, 3) << "the shared layer is converted once";
  EXPECT_EQ(r->shared, 1);
  auto idx = c->GetManifest("multi/app", "v1-starlight");
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(idx->media_type, registry::kOciIndex);
  json j = json::parse(idx->bytes);
  ASSERT_EQ(j["manifests"].size(), 2u);
  EXPECT_EQ(j["manifests"][1]["platform"]["variant"], "v8");
  json first = json::parse(c->GetManifest("multi/app", j["manifests"][0]["digest"].get<std::string>())->bytes);
  json second = json::parse(c->GetManifest("multi/app", j["manifests"][1]["digest"].get<std::string>())->bytes);
  EXPECT_EQ(first["layers"][0]["digest"], second["layers"][0]["digest"]);

  // --platform keeps only the chosen platform and says which were left out.
  auto opts = Options(Url(*reg, "multi/app:v1"), Url(*reg, "multi/app:arm-only"), *reg);
  opts.platforms = {"linux/arm64"};
  auto arm = ConvertImage(opts);
  ASSERT_TRUE(arm.ok()) << arm.status().ToString();
  EXPECT_EQ(arm->manifests, 1);
  ASSERT_EQ(arm->skipped_platforms.size(), 1u);
  EXPECT_EQ(arm->skipped_platforms[0], "linux/amd64");
  EXPECT_NE(DescribeImageReport(opts, *arm).find("linux/amd64"), std::string::npos);
  opts.platforms = {"linux/s390x"};
  opts.destination = Url(*reg, "multi/app:none");
  auto none = ConvertImage(opts);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
}

TEST(ImageTest, AuthenticatedRegistries) {
  RegistryOptions basic;
  basic.auth = RegistryOptions::kBasic;
  basic.tls = true;
  auto reg = StartRegistry(basic);
  ASSERT_TRUE(reg);
  ASSERT_TRUE(testing::PushTestImage(*reg, "team/app", "v1", TwoLayers()).ok());
  auto r = ConvertImage(Options(Url(*reg, "team/app:v1"), Url(*reg, "team/app:s"), *reg));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto opts = Options(Url(*reg, "team/app:v1"), Url(*reg, "team/app:s2"), *reg);
  opts.source_store.registry.credentials.password = "wrong";
  auto denied = ConvertImage(opts);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Code::kUnauthenticated) << denied.status().ToString();

  RegistryOptions token;
  token.auth = RegistryOptions::kToken;
  auto treg = StartRegistry(token);
  ASSERT_TRUE(treg);
  ASSERT_TRUE(testing::PushTestImage(*treg, "team/app", "v1", TwoLayers()).ok());
  int before = treg->token_requests();
  auto t = ConvertImage(Options(Url(*treg, "team/app:v1"), Url(*treg, "team/app:s"), *treg));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_GT(treg->token_requests(), before);
}

TEST(ImageTest, ClearErrorsForBadInput) {
  auto reg = StartRegistry();
  ASSERT_TRUE(reg);
  auto img = testing::PushTestImage(*reg, "team/app", "v1", TwoLayers());
  ASSERT_TRUE(img.ok()) << img.status().ToString();

  auto syntax = ConvertImage(Options("ftp://x/y", Url(*reg, "team/app:x"), *reg));
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().code(), Code::kInvalidArgument);
  EXPECT_NE(syntax.status().message().find("unknown reference syntax"), std::string::npos);

  auto missing = ConvertImage(Options(Url(*reg, "team/app:nope"), Url(*reg, "team/app:x"), *reg));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  auto c = registry::NewRegistryClient(reg->host(), ClientFor(*reg));
  auto m = c->GetManifest("team/app", "v1");
  ASSERT_TRUE(m.ok());
  // A zstd layer is refused with a clear message.
  json z = json::parse(m->bytes);
  z["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd";
  ASSERT_TRUE(c->PushManifest("team/app", "zstd", m->media_type, z.dump()).ok());
  auto zr = ConvertImage(Options(Url(*reg, "team/app:zstd"), Url(*reg, "team/app:x"), *reg));
  ASSERT_FALSE(zr.ok());
  EXPECT_EQ(zr.status().code(), Code::kNotSupported);
  EXPECT_NE(zr.status().message().find("zstd"), std::string::npos);

  // A config whose diff_ids do not match the layers is detected, and nothing is tagged.
  json config = json::parse(img->config);
  config["rootfs"]["diff_ids"][1] = "sha256:" + std::string(64, '0');
  std::string cbytes = config.dump();
  auto cd = digest::Sha256Of(cbytes);
  auto creader = io::NewStringReader(cbytes);
  ASSERT_TRUE(c->PushBlob("team/app", cd, *creader).ok());
  json bad = json::parse(m->bytes);
  bad["config"]["digest"] = cd.ToString();
  bad["config"]["size"] = cbytes.size();
  ASSERT_TRUE(c->PushManifest("team/app", "baddiff", m->media_type, bad.dump()).ok());
  auto dr = ConvertImage(Options(Url(*reg, "team/app:baddiff"), Url(*reg, "team/app:baddiff-s"), *reg));
  ASSERT_FALSE(dr.ok());
  EXPECT_EQ(dr.status().code(), Code::kCorruption);
  EXPECT_NE(dr.status().message().find("diff_id"), std::string::npos) << dr.status().ToString();
  EXPECT_EQ(c->GetManifest("team/app", "baddiff-s").status().code(), Code::kNotFound);
}

TEST(ImageTest, DestinationDownThenRerunCompletes) {
  auto src = StartRegistry();
  auto dst = StartRegistry();
  ASSERT_TRUE(src && dst);
  ASSERT_TRUE(testing::PushTestImage(*src, "team/app", "v1", TwoLayers()).ok());
  auto opts = Options(Url(*src, "team/app:v1"), Url(*dst, "team/app:v1"), *src);
  dst->Kill();
  auto down = ConvertImage(opts);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  ASSERT_TRUE(dst->Restart().ok());
  auto c = registry::NewRegistryClient(dst->host(), ClientFor(*dst));
  EXPECT_EQ(c->GetManifest("team/app", "v1").status().code(), Code::kNotFound) << "no broken tag";
  auto again = ConvertImage(opts);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto m = c->GetManifest("team/app", "v1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->digest.ToString(), again->destination_digest);
}

TEST(ImageTest, DestinationKilledMidUploadThenRerunCompletes) {
  auto src = StartRegistry();
  auto dst = StartRegistry();
  ASSERT_TRUE(src && dst);
  // A layer large enough that its upload is still streaming when the registry dies.
  std::string big(32 << 20, '\0');
  std::mt19937_64 rng(7);
  for (size_t i = 0; i + 8 <= big.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(big.data() + i, &v, 8);
  }
  testing::TestImageOptions o;
  o.layers = {{{"opt/big/random.bin", big}}};
  auto img = testing::PushTestImage(*src, "team/big", "v1", o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  auto opts = Options(Url(*src, "team/big:v1"), Url(*dst, "team/big:v1"), *src);

  // Kill the destination as soon as an upload session exists in its storage.
  std::string uploads = dst->storage_dir() + "/docker/registry/v2/repositories/team/big/_uploads";
  std::atomic<bool> stop{false}, killed{false};
  std::thread killer([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      if (std::filesystem::exists(uploads, ec) && !std::filesystem::is_empty(uploads, ec)) {
        dst->Kill();
        killed = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  auto first = ConvertImage(opts);
  stop = true;
  killer.join();
  ASSERT_TRUE(killed) << "the upload never started";
  ASSERT_FALSE(first.ok()) << "the registry died during the upload";
  EXPECT_EQ(first.status().code(), Code::kUnavailable) << first.status().ToString();

  ASSERT_TRUE(dst->Restart().ok());
  auto c = registry::NewRegistryClient(dst->host(), ClientFor(*dst));
  EXPECT_EQ(c->GetManifest("team/big", "v1").status().code(), Code::kNotFound) << "no broken tag";
  auto again = ConvertImage(opts);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto m = c->GetManifest("team/big", "v1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->digest.ToString(), again->destination_digest);
  json n = json::parse(m->bytes);
  ExpectSeekable(c.get(), "team/big", n["layers"][0]["digest"], img->layers[0].diff_id);
}

}  // namespace
}  // namespace starlight::converter
