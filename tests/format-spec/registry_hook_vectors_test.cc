// Checks registry-hook/events against format-spec/vectors/registry-hook (spec section 8): every
// captured docker-registry envelope and every hand-made one parses to exactly the events and
// classifications listed in expected.json, every malformed one is refused with the listed
// error, and every accepted event survives the queue encoding unchanged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/format-spec/vector_files.h"
#include "core/io/writer.h"
#include "registry-hook/events.h"

namespace starlight::hook {
namespace {

using nlohmann::json;

std::string ReadVector(const std::string& name) { return testing::ReadVectorFile("registry-hook", name); }

const json& Expected() {
  static const json kExpected = json::parse(ReadVector("expected.json"), nullptr, false);
  return kExpected;
}

std::string DispositionName(Disposition d) {
  switch (d) {
    case Disposition::kIngest:
      return "ingest";
    case Disposition::kUntag:
      return "untag";
    case Disposition::kIgnore:
      return "ignore";
  }
  return "?";
}

// Compares parsed events with the expected list, classification included, and round-trips each
// through the queue encoding.
void CheckEvents(const std::string& what, const std::vector<Event>& got, const json& want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(what + " event " + std::to_string(i));
    const Event& e = got[i];
    const json& w = want[i];
    EXPECT_EQ(e.id, w.at("id").get<std::string>());
    EXPECT_EQ(e.timestamp, w.at("timestamp").get<std::string>());
    EXPECT_EQ(e.action, w.at("action").get<std::string>());
    EXPECT_EQ(e.repository, w.at("repository").get<std::string>());
    EXPECT_EQ(e.media_type, w.at("media_type").get<std::string>());
    EXPECT_EQ(e.digest, w.at("digest").get<std::string>());
    EXPECT_EQ(e.tag, w.at("tag").get<std::string>());
    EXPECT_EQ(e.size, w.at("size").get<uint64_t>());
    EXPECT_EQ(e.host, w.at("host").get<std::string>());
    Classification c = Classify(e);
    EXPECT_EQ(DispositionName(c.disposition), w.at("disposition").get<std::string>());
    EXPECT_EQ(c.why, w.at("why").get<std::string>());

    std::string queued = EncodeQueuedEvent(e);
    EXPECT_EQ(queued, w.at("queued").get<std::string>());
    auto back = DecodeQueuedEvent(queued);
    ASSERT_TRUE(back.ok()) << queued << ": " << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_EQ(EncodeQueuedEvent(*back), queued);
  }
}

void CheckError(const std::string& what, const Status& s, const json& want) {
  EXPECT_EQ(std::string(CodeName(s.code())), want.at("code").get<std::string>()) << what;
  const std::string contains = want.at("contains").get<std::string>();
  EXPECT_NE(s.message().find(contains), std::string::npos)
      << what << ": message \"" << s.message() << "\" lacks \"" << contains << "\"";
}

TEST(RegistryHookVectors, ExpectedFileIsWellFormed) {
  const json& e = Expected();
  ASSERT_FALSE(e.is_discarded());
  ASSERT_TRUE(e.contains("vectors"));
  ASSERT_TRUE(e.contains("synthetic"));
  EXPECT_GT(e["vectors"].size(), 100u);
}

TEST(RegistryHookVectors, EveryVector) {
  size_t accepted = 0, refused = 0;
  for (const json& v : Expected().at("vectors")) {
    const std::string file = v.at("file").get<std::string>();
    SCOPED_TRACE(file);
    const std::string body = ReadVector(file);
    const std::string ct = v.at("content_type").get<std::string>();
    auto r = ParseEnvelope(body, ct);
    if (v.contains("error")) {
      ASSERT_FALSE(r.ok()) << file << " was accepted";
      CheckError(file, r.status(), v.at("error"));
      ++refused;
    } else {
      ASSERT_TRUE(r.ok()) << file << ": " << r.status().ToString();
      CheckEvents(file, *r, v.at("events"));
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 50u);
  EXPECT_GT(refused, 50u);
}

// The captured envelopes are what docker-registry really sends: the envelope media type, the
// Authorization header from the endpoint's `headers:`, one event per request.
TEST(RegistryHookVectors, CapturedHeaders) {
  size_t n = 0;
  for (const json& v : Expected().at("vectors")) {
    const std::string file = v.at("file").get<std::string>();
    if (file.rfind("captured/", 0) != 0) continue;
    SCOPED_TRACE(file);
    std::string hfile = file.substr(0, file.size() - 5) + ".headers.json";
    json h = json::parse(ReadVector(hfile), nullptr, false);
    ASSERT_TRUE(h.is_object());
    EXPECT_EQ(h["method"], "POST");
    EXPECT_EQ(h["headers"]["Content-Type"], std::string(kEnvelopeMediaType));
    EXPECT_EQ(h["headers"]["Authorization"], "Bearer capture-secret");
    EXPECT_EQ(v.at("content_type"), std::string(kEnvelopeMediaType));
    EXPECT_EQ(v.at("events").size(), 1u);
    ++n;
  }
  EXPECT_GT(n, 50u);
}

std::string Synthesize(const json& recipe) {
  const std::string kind = recipe.at("kind").get<std::string>();
  if (kind == "pad") {
    // {"events":[],"pad":"xxx..."} of exactly `bytes` bytes.
    const size_t bytes = recipe.at("bytes").get<size_t>();
    std::string head = R"({"events":[],"pad":")", tail = R"("})";
    return head + std::string(bytes - head.size() - tail.size(), 'x') + tail;
  }
  if (kind == "repeat") {
    json one = json::parse(ReadVector(recipe.at("file").get<std::string>()));
    json events = json::array();
    for (size_t i = 0; i < recipe.at("copies").get<size_t>(); ++i) {
      events.push_back(one.at("events").at(0));
    }
    return json{{"events", events}}.dump();
  }
  if (kind == "nest") {
    const size_t depth = recipe.at("depth").get<size_t>();
    return R"({"events":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  }
  ADD_FAILURE() << "unknown recipe " << kind;
  return {};
}

TEST(RegistryHookVectors, Synthetic) {
  for (const json& v : Expected().at("synthetic")) {
    const std::string name = v.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const std::string body = Synthesize(v.at("recipe"));
    auto r = ParseEnvelope(body, v.at("content_type").get<std::string>());
    if (v.contains("error")) {
      ASSERT_FALSE(r.ok());
      CheckError(name, r.status(), v.at("error"));
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (v.contains("events")) CheckEvents(name, *r, v.at("events"));
      if (v.contains("count")) {
        EXPECT_EQ(r->size(), v.at("count").get<size_t>());
      }
    }
  }
}

}  // namespace
}  // namespace starlight::hook
