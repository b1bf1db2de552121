#include "core/http/client.h"

#include <gtest/gtest.h>

namespace starlight::http {
namespace {

TEST(UrlTest, ParsesOriginsAndTargets) {
  auto u = ParseUrl("https://Example.com:5000/v2/x/blobs/sha256:ab?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "Example.com");
  EXPECT_EQ(u->port, 5000);
  EXPECT_EQ(u->target, "/v2/x/blobs/sha256:ab?x=1");
  EXPECT_EQ(u->Origin(), "https://Example.com:5000");
  auto d = ParseUrl("http://127.0.0.1");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, 80);
  EXPECT_EQ(d->target, "/");
  auto v6 = ParseUrl("http://[::1]:8080/a");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->Origin(), "http://[::1]:8080");
}

TEST(UrlTest, RejectsBadUrls) {
  EXPECT_FALSE(ParseUrl("/relative").ok());
  EXPECT_FALSE(ParseUrl("ftp://x/").ok());
  EXPECT_FALSE(ParseUrl("http://:80/").ok());
  EXPECT_FALSE(ParseUrl("http://h:99999/").ok());
  EXPECT_FALSE(ParseUrl("http://h:8x/").ok());
}

TEST(UrlTest, ResolvesLocations) {
  auto base = ParseUrl("http://reg:5000/v2/repo/blobs/uploads/");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(*ResolveUrl(*base, "/v2/repo/blobs/uploads/u1?_state=s"), "http://reg:5000/v2/repo/blobs/uploads/u1?_state=s");
  EXPECT_EQ(*ResolveUrl(*base, "https://s3.example/b?sig=1"), "https://s3.example/b?sig=1");
  EXPECT_EQ(*ResolveUrl(*base, "//cdn.example/x"), "http://cdn.example/x");
  EXPECT_EQ(*ResolveUrl(*base, "u2"), "http://reg:5000/v2/repo/blobs/uploads/u2");
}

TEST(UrlTest, QueryEscape) {
  EXPECT_EQ(QueryEscape("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
  EXPECT_EQ(QueryEscape("a-b_c.d~"), "a-b_c.d~");
}

TEST(ClientTest, ConnectionRefusedIsUnavailable) {
  auto c = NewClient({});
  Request r;
  r.url = "http://127.0.0.1:1/";  // nothing listens on port 1
  auto res = c->Send(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace starlight::http
