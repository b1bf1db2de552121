// Unit tests of registry-hook/events: envelope parsing and validation, classification and the
// queue encoding. The real envelopes of docker-registry are checked by
// tests/format-spec/registry_hook_vectors_test.cc.
#include "registry-hook/events.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace starlight::hook {
namespace {

constexpr char kDigest[] =
    "sha256:38b69e3fc70b06ac1b5c95370aae92c8f349d5bb71e15bb70a4ba781f9a671f7";
const std::string kCt(kEnvelopeMediaType);

// One event with the given target members (a JSON fragment) and action.
std::string Envelope(const std::string& target, const std::string& action = "push",
                     const std::string& extra = "") {
  return R"({"events":[{"id":"e1","timestamp":"2024-01-01T00:00:00Z","action":")" + action +
         R"(","target":{)" + target + "}" + extra + "}]}";
}

std::string Manifest(const std::string& repo = "library/hello", const std::string& tag = "1.0") {
  return R"("mediaType":"application/vnd.oci.image.manifest.v1+json","size":418,"digest":")" +
         std::string(kDigest) + R"(","repository":")" + repo + R"(","tag":")" + tag + R"(")";
}

Status ParseStatus(const std::string& body, std::string_view ct = kEnvelopeMediaType) {
  auto r = ParseEnvelope(body, ct);
  return r.ok() ? Status::Ok() : r.status();
}

Event Sample() {
  Event e;
  e.id = "c157bdc7-8194-42f1-bded-80c57b212348";
  e.timestamp = "2026-12-04T19:27:05.538790558Z";
  e.action = "push";
  e.repository = "library/hello";
  e.media_type = "application/vnd.oci.image.manifest.v1+json";
  e.digest = kDigest;
  e.tag = "1.0";
  e.size = 418;
  e.host = "127.0.0.1:5000";
  return e;
}

TEST(ContentType, AcceptsTheEnvelopeTypeAndJson) {
  for (const char* ct :
       {"application/vnd.docker.distribution.events.v1+json", "application/json",
        "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8", " application/json ",
        "application/vnd.docker.distribution.events.v1+json; charset=\"utf-8\"",
        "application/json; charset=utf8; foo=bar", "application/json;"}) {
    EXPECT_TRUE(IsEnvelopeContentType(ct)) << ct;
  }
}

TEST(ContentType, RefusesOthers) {
  for (const char* ct : {"", "text/plain", "application/jsonx", "application/json5",
                         "application/x-www-form-urlencoded", "multipart/form-data",
                         "application/json; charset=utf-16", "application/json; charset=latin1",
                         "application/vnd.docker.distribution.events.v2+json", "json"}) {
    EXPECT_FALSE(IsEnvelopeContentType(ct)) << ct;
    auto r = ParseEnvelope(R"({"events":[]})", ct);
    ASSERT_FALSE(r.ok()) << ct;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("unsupported content type"), std::string::npos);
  }
}

TEST(ContentType, ControlCharactersAreNotEchoed) {
  auto r = ParseEnvelope(R"({"events":[]})", "text/plain\r\nX-Evil: 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(r.status().message().find('\r'), std::string::npos);
}

TEST(Parse, FullEvent) {
  auto r = ParseEnvelope(Envelope(Manifest(), "push",
                                  R"(,"request":{"id":"r","host":"127.0.0.1:5000",)"
                                  R"("method":"PUT"},"actor":{},"source":{"addr":"vm:5000"})"),
                         kCt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  Event want = Sample();
  want.id = "e1";
  want.timestamp = "2024-01-01T00:00:00Z";
  EXPECT_EQ((*r)[0], want);
}

TEST(Parse, OptionalFieldsDefaultToEmpty) {
  auto r = ParseEnvelope(R"({"events":[{"id":"x","action":"delete",)"
                         R"("target":{"repository":"a","tag":"old"}}]})",
                         kCt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Event& e = (*r)[0];
  EXPECT_EQ(e.timestamp, "");
  EXPECT_EQ(e.media_type, "");
  EXPECT_EQ(e.digest, "");
  EXPECT_EQ(e.tag, "old");
  EXPECT_EQ(e.size, 0u);
  EXPECT_EQ(e.host, "");
}

TEST(Parse, EmptyEventsAndUnknownMembers) {
  auto r = ParseEnvelope(R"({"events":[],"other":{"deep":[1,2,{"x":null}]}})", kCt);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = ParseEnvelope(Envelope(Manifest() + R"(,"url":"http://x","fromRepository":"a/b","x":1)",
                             "replicate", R"(,"z":[true])"),
                    kCt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].action, "replicate");
}

TEST(Parse, KeepsOrderOfManyEvents) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < 50; ++i) {
    if (i) body += ",";
    body +=
        R"({"id":"e)" + std::to_string(i) + R"(","action":"pull","target":{)" + Manifest() + "}}";
  }
  body += "]}";
  auto r = ParseEnvelope(body, kCt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ((*r)[i].id, "e" + std::to_string(i));
}

TEST(Parse, SizeLimits) {
  std::string head = R"({"events":[],"pad":")", tail = R"("})";
  std::string at_limit =
      head + std::string(kMaxEnvelopeBytes - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(at_limit.size(), kMaxEnvelopeBytes);
  EXPECT_TRUE(ParseStatus(at_limit).ok());
  std::string over =
      head + std::string(kMaxEnvelopeBytes + 1 - head.size() - tail.size(), 'x') + tail;
  Status s = ParseStatus(over);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("exceeds the limit"), std::string::npos) << s.ToString();
}

TEST(Parse, EventCountLimit) {
  const std::string one = R"({"id":"m","action":"delete","target":{"repository":"a","tag":"t"}})";
  auto make = [&](size_t n) {
    std::string b = R"({"events":[)";
    for (size_t i = 0; i < n; ++i) b += (i ? "," : "") + one;
    return b + "]}";
  };
  EXPECT_TRUE(ParseStatus(make(kMaxEnvelopeEvents)).ok());
  Status s = ParseStatus(make(kMaxEnvelopeEvents + 1));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("exceed the limit"), std::string::npos) << s.ToString();
}

TEST(Parse, DeepNestingIsRefusedWithoutRecursion) {
  for (char open : {'[', '{'}) {
    std::string body = R"({"events":[],"x":)" + std::string(1000000, open);
    Status s = ParseStatus(body);
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find("nested deeper"), std::string::npos) << s.ToString();
  }
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseStatus(R"({"events":[],"x":")" + std::string(1000, '[') + R"(\"{{{"})").ok());
}

TEST(Parse, StructureErrorsNameTheField) {
  struct Case {
    std::string body, contains;
  } cases[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {R"({"events":[]}x)", "not JSON"},
      {"null", "not a JSON object"},
      {R"(["events"])", "not a JSON object"},
      {"{}", "events: missing"},
      {R"({"events":"x"})", "events: not an array"},
      {R"({"events":[1]})", "events[0]: not an object"},
      {R"({"events":[{"action":"push","target":{"repository":"a"}}]})", "events[0].id: missing"},
      {R"({"events":[{"id":"x","target":{"repository":"a"}}]})", "events[0].action: missing"},
      {R"({"events":[{"id":"x","action":"pull"}]})", "events[0].target: missing"},
      {R"({"events":[{"id":"x","action":"pull","target":[]}]})", "events[0].target: not an object"},
      {R"({"events":[{"id":"x","action":"pull","target":{}}]})",
       "events[0].target.repository: missing"},
      {R"({"events":[{"id":1,"action":"pull","target":{"repository":"a"}}]})",
       "events[0].id: not a string"},
      {R"({"events":[{"id":"x","action":true,"target":{"repository":"a"}}]})",
       "events[0].action: not a string"},
      {R"({"events":[{"id":"x","action":"pull","timestamp":null,"target":{"repository":"a"}}]})",
       "events[0].timestamp: not a string"},
      {Envelope(Manifest(), "push", R"(,"request":[])"), "events[0].request: not an object"},
      {Envelope(Manifest(), "push", R"(,"request":{"host":5000})"),
       "events[0].request.host: not a string"},
      {Envelope(R"("repository":"a","digest":")" + std::string(kDigest) + R"(","size":"1")"),
       "events[0].target.size: not a non-negative integer"},
      {Envelope(R"("repository":"a","digest":")" + std::string(kDigest) + R"(","size":-5)"),
       "events[0].target.size"},
      {Envelope(R"("repository":"a","digest":")" + std::string(kDigest) + R"(","size":2.0)"),
       "events[0].target.size"},
      {Envelope(R"("repository":"a","mediaType":"application/json")"),
       "events[0].target.digest: missing (required for push)"},
      {Envelope(R"("repository":"a")", "mount"), "required for mount"},
      {Envelope(R"("repository":"a")", "delete"), "delete without digest or tag"},
  };
  for (const Case& c : cases) {
    Status s = ParseStatus(c.body);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.body;
    EXPECT_NE(s.message().find(c.contains), std::string::npos)
        << c.body << " -> " << s.ToString() << " (want " << c.contains << ")";
  }
}

TEST(Parse, OneBadEventRejectsTheWholeEnvelope) {
  std::string body = R"({"events":[{"id":"a","action":"push","target":{)" + Manifest() +
                     R"(}},{"id":"b","action":"push","target":{)" + Manifest("Bad") + "}}]}";
  Status s = ParseStatus(body);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("events[1].target.repository"), std::string::npos) << s.ToString();
}

TEST(Validate, RepositoryNames) {
  for (const std::string& good :
       std::vector<std::string>{"a", "library/hello", "a0/b-c/d__e/f.g/h---i", "x/y/z/w", "0",
                                "a-b", "a_b", "a.b", std::string(255, 'a')}) {
    EXPECT_TRUE(ParseStatus(Envelope(Manifest(good))).ok()) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"",       "Library", "library/Hello",
                                "..",     ".",       "../etc",
                                "a/../b", "a/./b",   "/a",
                                "a/",     "a//b",    "-a",
                                "a-",     "_a",      "a_",
                                "a.",     "a___b",   "a..b",
                                "a._b",   "a b",     "a%2fb",
                                "a?b",    "a#b",     "a\\\\b",
                                "a:b",    "a@b",     "a\\u0000b",
                                "a\\nb",  "\\u00e9", std::string(256, 'a')}) {
    Status s = ParseStatus(Envelope(Manifest(bad)));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("target.repository"), std::string::npos) << s.ToString();
  }
}

TEST(Validate, Tags) {
  for (const std::string& good : std::vector<std::string>{
           "latest", "1.0", "_", "A", "v1.2.3-rc.1_build", "0", std::string(128, 't')}) {
    EXPECT_TRUE(ParseStatus(Envelope(Manifest("a", good))).ok()) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "-x", "a/b", "../x", "a b", "a:b", "a@b", "a+b",
                                "\\u00e9", std::string(129, 't')}) {
    Status s = ParseStatus(Envelope(Manifest("a", bad)));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("target.tag"), std::string::npos) << s.ToString();
  }
}

TEST(Validate, Digests) {
  const std::string hex(64, 'a');
  for (const std::string& good : std::vector<std::string>{
           "sha256:" + hex, "sha384:" + std::string(96, 'b'), "sha512:" + hex + hex}) {
    EXPECT_TRUE(ParseStatus(Envelope(R"("repository":"a","digest":")" + good + R"(")")).ok())
        << good;
  }
  for (const std::string& bad : std::vector<std::string>{
           "sha256:" + std::string(64, 'A'), "sha256:" + hex.substr(1), "sha256:" + hex + "a",
           "sha512:" + hex, "sha384:" + hex, "md5:" + hex.substr(32), "SHA256:" + hex,
           "sha256" + hex, hex, "sha256:" + hex.substr(2) + "..", "sha256:" + hex.substr(1) + "g",
           "sha256:", ":" + hex, ""}) {
    Status s = ParseStatus(Envelope(R"("repository":"a","digest":")" + bad + R"(")"));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("target.digest: invalid"), std::string::npos) << s.ToString();
  }
}

TEST(Validate, Hosts) {
  auto host_of = [](const std::string& h) -> std::string {
    auto r = ParseEnvelope(Envelope(Manifest(), "push", R"(,"request":{"host":")" + h + R"("})"),
                           kEnvelopeMediaType);
    EXPECT_TRUE(r.ok()) << h << ": " << r.status().ToString();
    return r.ok() ? (*r)[0].host : "<error>";
  };
  for (const char* good : {"registry", "registry.example.com", "127.0.0.1:5000", "[::1]",
                           "[::1]:5000", "[fe80::1:2]:443", "r-1.example:1", "my_registry:5000"}) {
    EXPECT_EQ(host_of(good), good);
  }
  // The Host header is the client's choice: anything else is dropped, the event is kept.
  for (const char* bad : {"", ":5000", "host:", "host:http", "host:123456", "a/b", "u@h", "h h",
                          "[::1", "[]", "[::1]x", "[::1]:", "[zz]", "-h", ".h", "h?x", "h#x",
                          "h\\r\\nX: y", "[fe80::1%25eth0]:5000"}) {
    EXPECT_EQ(host_of(bad), "") << bad;
  }
  EXPECT_EQ(host_of(std::string(300, 'h')), "");
  // Only a non-string is refused.
  Status s = ParseStatus(Envelope(Manifest(), "push", R"(,"request":{"host":5000})"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
}

TEST(Validate, MediaTypes) {
  auto with_type = [](const std::string& t) {
    return ParseStatus(Envelope(R"("repository":"a","digest":")" + std::string(kDigest) +
                                R"(","mediaType":")" + t + R"(")"));
  };
  for (const char* good : {"application/octet-stream", "application/vnd.oci.image.index.v1+json",
                           "application/json; charset=utf-8", "a/b"}) {
    EXPECT_TRUE(with_type(good).ok()) << good;
  }
  for (const char* bad : {"", "application", "/json", "application/", "a/b/c", "a b/c",
                          "application/json\\r\\nX: 1", "application/json;\\u0001"}) {
    Status s = with_type(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("target.mediaType: invalid"), std::string::npos) << s.ToString();
  }
}

TEST(Validate, IdsAndActionsArePrintableTokens) {
  for (const char* bad : {R"("")", R"("a b")", R"("a\nb")", R"("\u00e9")"}) {
    std::string body = std::string(R"({"events":[{"id":)") + bad +
                       R"(,"action":"pull","target":{"repository":"a","digest":")" + kDigest +
                       R"("}}]})";
    EXPECT_EQ(ParseStatus(body).code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseStatus(Envelope(Manifest(), "pu sh")).code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseStatus(Envelope(Manifest(), std::string(65, 'a'))).code(), Code::kInvalidArgument);
}

Classification ClassifyOf(const std::string& action, const std::string& media_type,
                          const std::string& digest = kDigest, const std::string& tag = "") {
  Event e = Sample();
  e.action = action;
  e.media_type = media_type;
  e.digest = digest;
  e.tag = tag;
  return Classify(e);
}

TEST(Classify, Table) {
  struct Case {
    std::string action, media_type, digest, tag;
    Disposition want;
    std::string why;
  } cases[] = {
      {"push", "application/vnd.oci.image.manifest.v1+json", kDigest, "1.0", Disposition::kIngest,
       "manifest push"},
      {"push", "application/vnd.oci.image.manifest.v1+json", kDigest, "", Disposition::kIngest,
       "manifest push"},
      {"push", "application/vnd.docker.distribution.manifest.v2+json", kDigest, "v2",
       Disposition::kIngest, "manifest push"},
      {"push", "application/vnd.oci.image.index.v1+json", kDigest, "latest", Disposition::kIngest,
       "index push"},
      {"push", "application/vnd.docker.distribution.manifest.list.v2+json", kDigest, "",
       Disposition::kIngest, "index push"},
      {"push", "application/vnd.oci.image.index.v1+json; charset=utf-8", kDigest, "",
       Disposition::kIngest, "index push"},
      {"push", "application/octet-stream", kDigest, "", Disposition::kIgnore, "blob push"},
      {"push", "application/vnd.docker.distribution.manifest.v1+prettyjws", kDigest, "",
       Disposition::kIgnore, "schema1 manifest push (not supported)"},
      {"push", "application/vnd.docker.distribution.manifest.v1+json", kDigest, "",
       Disposition::kIgnore, "schema1 manifest push (not supported)"},
      {"push", "application/vnd.cncf.helm.config.v1+json", kDigest, "", Disposition::kIgnore,
       "push of other media type"},
      {"push", "", kDigest, "", Disposition::kIgnore, "push without media type"},
      {"delete", "", kDigest, "", Disposition::kUntag, "manifest or blob delete"},
      {"delete", "", "", "1.0", Disposition::kUntag, "tag delete"},
      {"delete", "", kDigest, "1.0", Disposition::kUntag, "tag delete"},
      {"delete", "", "", "", Disposition::kIgnore, "delete without digest or tag"},
      {"delete", "", "sha512:" + std::string(128, 'c'), "", Disposition::kIgnore,
       "non-sha256 digest"},
      {"push", "application/vnd.oci.image.manifest.v1+json", "sha384:" + std::string(96, 'c'), "",
       Disposition::kIgnore, "non-sha256 digest"},
      {"push", "application/vnd.oci.image.index.v1+json", "", "x", Disposition::kIgnore,
       "non-sha256 digest"},
      {"push", "application/octet-stream", "sha512:" + std::string(128, 'c'), "",
       Disposition::kIgnore, "blob push"},
      {"pull", "application/vnd.oci.image.manifest.v1+json", kDigest, "1.0", Disposition::kIgnore,
       "pull"},
      {"pull", "application/octet-stream", kDigest, "", Disposition::kIgnore, "pull"},
      {"mount", "application/octet-stream", kDigest, "", Disposition::kIgnore, "blob mount"},
      {"PUSH", "application/vnd.oci.image.manifest.v1+json", kDigest, "", Disposition::kIgnore,
       "unknown action"},
      {"replicate", "", kDigest, "", Disposition::kIgnore, "unknown action"},
  };
  for (const Case& c : cases) {
    Classification got = ClassifyOf(c.action, c.media_type, c.digest, c.tag);
    EXPECT_EQ(got.disposition, c.want) << c.action << " " << c.media_type;
    EXPECT_EQ(got.why, c.why) << c.action << " " << c.media_type;
  }
}

TEST(Queue, GoldenEncoding) {
  EXPECT_EQ(EncodeQueuedEvent(Sample()),
            R"({"action":"push","digest":")" + std::string(kDigest) +
                R"(","host":"127.0.0.1:5000","id":"c157bdc7-8194-42f1-bded-80c57b212348",)"
                R"("media_type":"application/vnd.oci.image.manifest.v1+json",)"
                R"("repository":"library/hello","size":418,"tag":"1.0",)"
                R"("timestamp":"2026-12-04T19:27:05.538790558Z","v":1})");
  Event minimal;
  minimal.id = "m";
  minimal.action = "delete";
  minimal.repository = "a";
  minimal.tag = "t";
  EXPECT_EQ(EncodeQueuedEvent(minimal),
            R"({"action":"delete","digest":"","host":"","id":"m","media_type":"",)"
            R"("repository":"a","size":0,"tag":"t","timestamp":"","v":1})");
}

TEST(Queue, RoundTrip) {
  Event big = Sample();
  big.size = UINT64_MAX;
  big.media_type = "application/json; charset=\"utf-8\"";
  for (const Event& e : {Sample(), big}) {
    std::string q = EncodeQueuedEvent(e);
    EXPECT_EQ(q.find('\n'), std::string::npos);
    auto back = DecodeQueuedEvent(q);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
  }
}

TEST(Queue, ParsedEventsRoundTrip) {
  auto r = ParseEnvelope(Envelope(Manifest(), "push", R"(,"request":{"host":"[::1]:5000"})"), kCt);
  ASSERT_TRUE(r.ok());
  auto back = DecodeQueuedEvent(EncodeQueuedEvent((*r)[0]));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, (*r)[0]);
}

TEST(Queue, DecodeIsStrict) {
  const std::string good = EncodeQueuedEvent(Sample());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string bad[] = {
      "",
      "not json",
      "[]",
      "null",
      good + "\n",
      " " + good,
      replace(",", ", "),
      replace(R"("v":1)", R"("v":2)"),
      replace(R"("v":1)", R"("v":1.0)"),
      replace(R"("v":1)", R"("v":"1")"),
      replace(R"(,"v":1)", ""),
      replace(R"("v":1)", R"("v":1,"extra":"")"),
      replace(R"("action":"push",)", ""),
      replace(R"("action":"push")", R"("action":"")"),
      replace("\"size\":418", "\"size\":-1"),
      replace("\"size\":418", "\"size\":418.0"),
      replace("\"size\":418", "\"size\":\"418\""),
      replace("\"size\":418", "\"size\":4.18e2"),
      replace("\"size\":418", "\"size\":0418"),
      replace(R"("repository":"library/hello")", R"("repository":"../x")"),
      replace(R"("repository":"library/hello")", R"("repository":"")"),
      replace(R"("tag":"1.0")", R"("tag":"../x")"),
      replace(R"("digest":"sha256:)", R"("digest":"sha512:)"),
      replace(R"("host":"127.0.0.1:5000")", R"("host":"a/b")"),
      replace(R"("host":"127.0.0.1:5000")", R"("host":{})"),
      replace(R"("library/hello")", R"("library\/hello")"),  // an escape Encode does not use
      // Keys out of order ("v" first).
      "{\"v\":1," + replace(R"(,"v":1)", "").substr(1),
      // Duplicate key.
      replace(R"("v":1)", R"("v":1,"v":1)"),
  };
  for (const std::string& b : bad) {
    auto r = DecodeQueuedEvent(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kCorruption) << b;
    }
  }
  EXPECT_TRUE(DecodeQueuedEvent(good).ok());
}

}  // namespace
}  // namespace starlight::hook
