#include "core/registry/reference.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/registry/client.h"

namespace starlight::registry {
namespace {

TEST(ReferenceTest, Normalises) {
  auto r = ParseReference("debian");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "library/debian");
  EXPECT_EQ(r->tag, "latest");
  auto l = ParseReference("127.0.0.1:5000/team/app:1.2");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->registry, "127.0.0.1:5000");
  EXPECT_EQ(l->repository, "team/app");
  EXPECT_EQ(l->tag, "1.2");
  EXPECT_EQ(l->ToString(), "127.0.0.1:5000/team/app:1.2");
  std::string d = "sha256:" + std::string(64, 'a');
  auto dg = ParseReference("localhost/app@" + d);
  ASSERT_TRUE(dg.ok());
  EXPECT_EQ(dg->registry, "localhost");
  EXPECT_EQ(dg->digest, d);
  EXPECT_TRUE(dg->tag.empty());
  EXPECT_EQ(dg->Ref(), d);
}

TEST(ReferenceTest, RejectsBadReferences) {
  for (const char* bad : {"", "Upper/Case", "host:5000/", "app:", "app@sha256:xyz", "a//b",
                          "app:-bad", "-app"}) {
    auto r = ParseReference(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

TEST(ChallengeTest, ParsesBearer) {
  auto c = ParseChallenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->Param("realm"), "https://auth.example/token");
  EXPECT_EQ(c->Param("service"), "registry.example");
  EXPECT_EQ(c->Param("scope"), "repository:a/b:pull,push");
  auto b = ParseChallenge(R"(Basic realm="Registry Realm")");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->scheme, "basic");
  EXPECT_FALSE(ParseChallenge(R"(Bearer realm="open)").ok());
}

TEST(DockerConfigTest, ReadsAuthEntries) {
  auto dir = std::filesystem::temp_directory_path() / ("sl-dockercfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "config.json").string();
  {
    std::ofstream f(path);
    // "alice:s3cr:et" and a docker.io entry under its legacy key.
    f << R"({"auths":{"https://127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjpldA=="},
               "https://index.docker.io/v1/":{"auth":"Ym9iOnB3"}}})";
  }
  auto c = LoadDockerCredentials("127.0.0.1:5000", path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->password, "s3cr:et");
  auto hub = LoadDockerCredentials("docker.io", path);
  ASSERT_TRUE(hub.ok());
  EXPECT_EQ(hub->username, "bob");
  auto none = LoadDockerCredentials("other:1", path);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  {
    std::ofstream f(path);
    f << "{not json";
  }
  EXPECT_FALSE(LoadDockerCredentials("127.0.0.1:5000", path).ok());
  EXPECT_FALSE(LoadDockerCredentials("127.0.0.1:5000", (dir / "missing.json").string()).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace starlight::registry
