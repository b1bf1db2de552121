// The registry hook end to end, with real parts: a docker-registry that notifies a real
// `starlight-proxy serve` process; images pushed with skopeo (originals) and converted with the
// project's own converter and client; results read back through the proxy's CLI (which goes
// through the running proxy's admin API). Covers ingestion of every layer's ToC and the merged
// tree (whiteouts, opaque directories, hard links across layers), non-seekable layers, replays
// and duplicates, bad secrets and bodies, a proxy killed between acceptance and ingestion, a
// registry down during ingestion, deletes, manual ingestion and convert-on-push.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "converter/image.h"
#include "core/digest/digest.h"
#include "core/http/client.h"
#include "core/registry/client.h"
#include "tests/testing/registry/proxy_fixture.h"
#include "tests/testing/registry/registry_fixture.h"
#include "tests/testing/registry/test_image.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight::hook {
namespace {

using nlohmann::json;
using testing::ProxyFixture;
using testing::ProxyOptions;
using testing::RegistryFixture;
using testing::RegistryOptions;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kEnvelopeType[] = "application/vnd.docker.distribution.events.v1+json";

// A registry that notifies a proxy, and the proxy pointed at the registry. The proxy starts
// first (the registry's config needs its URL), then restarts with the registry as upstream.
struct Stack {
  std::unique_ptr<ProxyFixture> proxy;
  std::unique_ptr<RegistryFixture> registry;

  static std::unique_ptr<Stack> Start(ProxyOptions po = {}) {
    auto s = std::make_unique<Stack>();
    po.binary = SL_PROXY_BINARY;
    po.upstream = "127.0.0.1:9";  // replaced below
    auto proxy = ProxyFixture::Start(po);
    EXPECT_TRUE(proxy.ok()) << proxy.status().ToString();
    if (!proxy.ok()) return nullptr;
    s->proxy = std::move(*proxy);
    RegistryOptions ro;
    ro.notify_url = s->proxy->events_url();
    ro.notify_headers = {{"Authorization", "Bearer " + po.webhook_secret}};
    auto reg = RegistryFixture::Start(ro);
    EXPECT_TRUE(reg.ok()) << reg.status().ToString();
    if (!reg.ok()) return nullptr;
    s->registry = std::move(*reg);
    s->proxy->mutable_options()->upstream = s->registry->host();
    Status r = s->proxy->Restart();
    EXPECT_TRUE(r.ok()) << r.ToString();
    return r.ok() ? std::move(s) : nullptr;
  }

  // `starlight-proxy db show REF --json`, parsed; null when the image is not (yet) there.
  json Show(const std::string& ref) const {
    auto r = proxy->Cli({"db", "show", ref, "--json"});
    if (r.exit_code != 0) return nullptr;
    return json::parse(r.out);
  }

  // Waits (bounded) until `pred(show REF)` holds; returns the last answer.
  json WaitFor(const std::string& ref, const std::function<bool(const json&)>& pred,
               int seconds = 60) const {
    json last;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      last = Show(ref);
      if (!last.is_null() && pred(last)) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "timed out waiting for " << ref << "; proxy log:\n"
                  << testing::ReadFile(proxy->log_path());
    return last;
  }
  json WaitFor(const std::string& ref) const {
    return WaitFor(ref, [](const json&) { return true; });
  }

  json Stats() const {
    auto r = proxy->Cli({"db", "stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return json();
    json j = json::parse(r.out);
    j.erase("disk_bytes");  // LevelDB compacts its log on its own schedule
    return j;
  }

  // Waits until the proxy's queue is empty (GET /healthz).
  void WaitIdle(int seconds = 60) const {
    auto client = http::NewClient({});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      http::Request req;
      req.url = proxy->url() + "/healthz";
      auto res = client->Send(req);
      if (res.ok() && res->status == 200 && json::parse(res->body)["queue_depth"] == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "proxy queue did not drain";
  }

  http::Response Post(const std::string& body, const std::string& auth,
                      const std::string& content_type = kEnvelopeType) const {
    auto client = http::NewClient({});
    http::Request req;
    req.method = "POST";
    req.url = proxy->events_url();
    req.body = body;
    req.content_type = content_type;
    if (!auth.empty()) req.headers.emplace_back("Authorization", auth);
    auto res = client->Send(req);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : http::Response{};
  }
  std::string Bearer() const { return "Bearer " + proxy->options().webhook_secret; }

  registry::ClientOptions ClientOptions() const {
    registry::ClientOptions o;
    o.plain_http = true;
    o.max_attempts = 2;
    o.initial_backoff_ms = 10;
    return o;
  }

  // Converts repo:from into repo:to with the project's converter (and its registry client).
  void Convert(const std::string& from, const std::string& to) const {
    converter::ImageOptions o;
    o.source = "docker://" + registry->host() + "/" + from;
    o.destination = "docker://" + registry->host() + "/" + to;
    o.source_store.registry = ClientOptions();
    o.destination_store.registry = ClientOptions();
    o.threads = 2;
    auto r = converter::ConvertImage(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
};

std::string Envelope(const std::string& action, const std::string& repo, const std::string& tag,
                     const std::string& digest, const std::string& host) {
  json target = {{"mediaType", kOciManifest},
                 {"size", 1234},
                 {"digest", digest},
                 {"length", 1234},
                 {"repository", repo},
                 {"url", "http://" + host + "/v2/" + repo + "/manifests/" + digest}};
  if (!tag.empty()) target["tag"] = tag;
  json e = {{"id", "test-" + action + "-" + repo},
            {"timestamp", "2026-12-04T12:00:00.000000000Z"},
            {"action", action},
            {"target", target},
            {"request",
             {{"id", "r1"},
              {"addr", "127.0.0.1:1"},
              {"host", host},
              {"method", "PUT"},
              {"useragent", "test"}}},
            {"actor", json::object()},
            {"source", {{"addr", "test"}, {"instanceID", "i"}}}};
  return json{{"events", {e}}}.dump();
}

std::string Sha(std::string_view s) { return digest::Sha256Of(s).ToString(); }

// Three layers exercising the merge rules (see flatten.h).
struct TreeImage {
  std::string big = testing::PseudoRandomBytes(300000, 7, /*text=*/true);
  std::vector<std::string> tars;
  TreeImage() {
    testing::TarBuilder l0, l1, l2;
    l0.Dir("opt/").Dir("opt/app/").File("opt/app/a.txt", "a\n").File("opt/app/keep.txt", "keep\n");
    l0.Dir("opt/old/").File("opt/old/y.txt", "y\n").Dir("opt/data/").File("opt/data/big.bin", big);
    l0.Dir("opt/gone/").File("opt/gone/z.txt", "z\n").End();
    // Whiteouts, an opaque directory, a hard link to a file of the layer below.
    l1.File("opt/app/.wh.a.txt", "").Dir("opt/old/").File("opt/old/.wh..wh..opq", "");
    l1.File("opt/old/new.txt", "new\n").Hardlink("opt/link-to-big", "opt/data/big.bin");
    l1.File("opt/.wh.gone", "").End();
    // Replaces the link's target after the fact, and a file of the bottom layer.
    l2.File("opt/data/big.bin", "replaced\n").File("opt/app/keep.txt", "keep v2\n").End();
    tars = {l0.bytes(), l1.bytes(), l2.bytes()};
  }
};

std::map<std::string, json> MergedByPath(const json& image) {
  std::map<std::string, json> m;
  for (const auto& n : image["merged"]) m[n["path"].get<std::string>()] = n;
  return m;
}

class HookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = Stack::Start();
    ASSERT_NE(stack_, nullptr);
  }
  std::unique_ptr<Stack> stack_;
};

TEST_F(HookTest, IngestsPushedImagesTocsAndMergedTree) {
  TreeImage img;
  testing::TestImageOptions o;
  o.layer_tars = img.tars;
  auto pushed = testing::PushTestImage(*stack_->registry, "app", "orig", o);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  stack_->Convert("app:orig", "app:v1");

  // The original (plain gzip) image is recorded, every layer as not seekable with the reason.
  json orig = stack_->WaitFor("app:orig");
  ASSERT_EQ(orig["images"].size(), 1u);
  EXPECT_FALSE(orig["images"][0]["seekable"].get<bool>());
  ASSERT_EQ(orig["images"][0]["layers"].size(), 3u);
  for (const auto& l : orig["images"][0]["layers"]) {
    EXPECT_FALSE(l["seekable"].get<bool>());
    EXPECT_NE(l["reason"].get<std::string>().find("no Starlight footer"), std::string::npos)
        << l["reason"];
    EXPECT_FALSE(l.contains("toc"));
  }
  EXPECT_FALSE(orig["images"][0].contains("merged"));

  json v1 = stack_->WaitFor("app:v1");
  ASSERT_EQ(v1["kind"], "manifest");
  ASSERT_EQ(v1["images"].size(), 1u);
  const json& image = v1["images"][0];
  EXPECT_TRUE(image["seekable"].get<bool>());
  EXPECT_EQ(image["platform"], "linux/amd64");
  ASSERT_EQ(image["layers"].size(), 3u);

  // Each layer's ToC is exactly what `starlight-convert inspect --json` reads from the blob,
  // and indexing it read only the footer and the ToC.
  auto client = registry::NewRegistryClient(stack_->registry->host(), stack_->ClientOptions());
  testing::TempDir tmp;
  for (size_t i = 0; i < 3; ++i) {
    const json& l = image["layers"][i];
    EXPECT_TRUE(l["seekable"].get<bool>()) << l["reason"];
    EXPECT_EQ(l["diff_id"], pushed->layers[i].diff_id) << "converted layers keep their diffIDs";
    std::string blob;
    ASSERT_TRUE(client
                    ->FetchBlob("app", *digest::Digest::Parse(l["digest"].get<std::string>()),
                                [&](std::string_view b) {
                                  blob.append(b);
                                  return Status::Ok();
                                })
                    .ok());
    std::string path = tmp.Join("layer" + std::to_string(i));
    testing::WriteFile(path, blob);
    auto inspect = testing::Run({SL_CONVERT_BINARY, "inspect", "--json", path});
    ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
    EXPECT_EQ(l["toc"], json::parse(inspect.out)) << "layer " << i;
    EXPECT_EQ(l["size"].get<uint64_t>(), blob.size());
    EXPECT_GT(l["fetched_bytes"].get<uint64_t>(), 0u);
    EXPECT_LT(l["fetched_bytes"].get<uint64_t>(), blob.size())
        << "indexing must not read the whole blob";
  }
  EXPECT_LT(image["layers"][0]["fetched_bytes"].get<uint64_t>() * 50,
            image["layers"][0]["size"].get<uint64_t>())
      << "a 300 kB layer's ToC is under 2 % of it";

  // The merged tree applies whiteouts, the opaque directory and the cross-layer hard link.
  auto m = MergedByPath(image);
  EXPECT_TRUE(m.count("."));
  EXPECT_FALSE(m.count("opt/app/a.txt")) << "whited out";
  EXPECT_FALSE(m.count("opt/old/y.txt")) << "hidden by the opaque directory";
  EXPECT_FALSE(m.count("opt/gone")) << "whited-out directory";
  EXPECT_FALSE(m.count("opt/gone/z.txt")) << "whited-out directory's child";
  for (const auto& [path, node] : m) EXPECT_EQ(path.find(".wh."), std::string::npos) << path;
  ASSERT_TRUE(m.count("opt/old/new.txt"));
  EXPECT_EQ(m["opt/old/new.txt"]["digest"], Sha("new\n"));
  ASSERT_TRUE(m.count("opt/app/keep.txt"));
  EXPECT_EQ(m["opt/app/keep.txt"]["digest"], Sha("keep v2\n"));
  EXPECT_EQ(m["opt/app/keep.txt"]["layer"], 2);
  ASSERT_TRUE(m.count("opt/data/big.bin"));
  EXPECT_EQ(m["opt/data/big.bin"]["digest"], Sha("replaced\n"));
  ASSERT_TRUE(m.count("opt/link-to-big"));
  EXPECT_EQ(m["opt/link-to-big"]["layer"], 1);
  EXPECT_EQ(m["opt/link-to-big"]["link_layer"], 0) << "the link shares the bottom layer's inode";
  EXPECT_EQ(m["opt/link-to-big"]["link_path"], "opt/data/big.bin");
  EXPECT_EQ(m["opt/link-to-big"]["digest"], Sha(img.big))
      << "content as it was when the link was made";

  // The listing shows both tags; the stats count 6 distinct layers, 2 images, no queued event.
  auto list = stack_->proxy->Cli({"db", "images"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("app:orig"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("app:v1"), std::string::npos) << list.out;
  stack_->WaitIdle();
  json stats = stack_->Stats();
  EXPECT_EQ(stats["layers"], 6);
  EXPECT_EQ(stats["seekable_layers"], 3);
  EXPECT_EQ(stats["images"], 2);
  EXPECT_EQ(stats["tags"], 2);
  EXPECT_EQ(stats["queued_events"], 0);
  auto text = stack_->proxy->Cli({"db", "show", "app:v1"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("merged tree:"), std::string::npos) << text.out;
}

TEST_F(HookTest, ReplayedAndDuplicateEventsAreHarmless) {
  auto pushed = testing::PushTestImage(*stack_->registry, "replay", "v1");
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  json first = stack_->WaitFor("replay:v1");
  stack_->WaitIdle();
  json stats = stack_->Stats();

  std::string envelope =
      Envelope("push", "replay", "v1", pushed->manifest_digest, stack_->registry->host());
  for (int i = 0; i < 3; ++i) {
    auto res = stack_->Post(envelope, stack_->Bearer());
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(json::parse(res.body)["queued"], 1);
  }
  // The same events, twice in one envelope.
  json doubled = json::parse(envelope);
  doubled["events"].push_back(doubled["events"][0]);
  ASSERT_EQ(stack_->Post(doubled.dump(), stack_->Bearer()).status, 200);
  stack_->WaitIdle();
  EXPECT_EQ(stack_->Stats(), stats);
  json again = stack_->Show("replay:v1");
  EXPECT_EQ(again, first);
}

TEST_F(HookTest, RefusesWrongSecretAndMalformedBodiesStoringNothing) {
  json before = stack_->Stats();
  std::string envelope = Envelope("push", "nope", "v1", Sha("x"), stack_->registry->host());

  auto none = stack_->Post(envelope, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_FALSE(none.Header("WWW-Authenticate").empty());
  auto wrong = stack_->Post(envelope, "Bearer not-the-secret");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"]["code"], "UNAUTHORIZED");
  auto basic = stack_->Post(envelope, "Basic " + stack_->proxy->options().webhook_secret);
  EXPECT_EQ(basic.status, 401);

  for (const std::string& body :
       {std::string("{not json"), std::string("[]"), std::string("{\"events\": 3}"),
        std::string("{\"events\":[{\"action\":\"push\"}]}")}) {
    auto res = stack_->Post(body, stack_->Bearer());
    EXPECT_EQ(res.status, 400) << body;
    json err = json::parse(res.body);
    EXPECT_TRUE(err["error"]["message"].is_string()) << res.body;
  }
  json bad_digest = json::parse(envelope);
  bad_digest["events"][0]["target"]["digest"] = "sha256:../../etc/passwd";
  EXPECT_EQ(stack_->Post(bad_digest.dump(), stack_->Bearer()).status, 400);
  EXPECT_EQ(stack_->Post(envelope, stack_->Bearer(), "text/plain").status, 415);
  EXPECT_EQ(stack_->Post(std::string(5u << 20, ' '), stack_->Bearer()).status, 413);

  EXPECT_EQ(stack_->Stats(), before);
  http::Request mreq;
  mreq.url = stack_->proxy->url() + "/metrics";
  auto metrics = http::NewClient({})->Send(mreq);
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("starlight_hook_envelopes_total{result=\"unauthorized\"} 3"),
            std::string::npos)
      << metrics->body;
}

TEST_F(HookTest, AcceptedEventSurvivesProxyCrashWhileRegistryIsDown) {
  // The push happens while the proxy is down and the registry's own retries die with it, so
  // the only copy of the event is the one we post by hand below.
  stack_->proxy->Kill();
  auto pushed = testing::PushTestImage(*stack_->registry, "crash", "v1");
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  stack_->registry->Kill();
  ASSERT_TRUE(stack_->proxy->Restart().ok());

  auto res = stack_->Post(
      Envelope("push", "crash", "v1", pushed->manifest_digest, stack_->registry->host()),
      stack_->Bearer());
  ASSERT_EQ(res.status, 200) << res.body;
  // Ingestion fails while the registry is down: the event is retried, not dropped.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (testing::ReadFile(stack_->proxy->log_path()).find("crash:v1") == std::string::npos ||
         testing::ReadFile(stack_->proxy->log_path()).find("retrying in") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << testing::ReadFile(stack_->proxy->log_path());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stack_->proxy->Kill();  // crash between acceptance and ingestion

  // `ingest`/`db` work directly on the DB while no proxy holds it: the event is still queued.
  json stats = stack_->Stats();
  EXPECT_EQ(stats["queued_events"], 1);
  EXPECT_EQ(stats["tags"], 0);

  ASSERT_TRUE(stack_->registry->Restart().ok());
  ASSERT_TRUE(stack_->proxy->Restart().ok());
  json img = stack_->WaitFor("crash:v1");
  EXPECT_EQ(img["digest"], pushed->manifest_digest);
  EXPECT_NE(testing::ReadFile(stack_->proxy->log_path()).find("resuming 1 queued event"),
            std::string::npos);
  stack_->WaitIdle();
  EXPECT_EQ(stack_->Stats()["queued_events"], 0);
}

TEST_F(HookTest, RetriesWhileTheRegistryIsDown) {
  auto pushed = testing::PushTestImage(*stack_->registry, "flaky", "v1");
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  stack_->WaitFor("flaky:v1");
  stack_->registry->Kill();
  // A second tag of the same image, announced while the registry is down.
  auto res_ = stack_->Post(
      Envelope("push", "flaky", "v2", pushed->manifest_digest, stack_->registry->host()),
      stack_->Bearer());
  ASSERT_EQ(res_.status, 200) << res_.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(stack_->Show("flaky:v2").is_null());
  ASSERT_TRUE(stack_->registry->Restart().ok());
  // The registry does not know tag v2 (only the event said so): the tag is not invented, the
  // manifest is known by digest, and the event leaves the queue.
  stack_->WaitIdle();
  EXPECT_TRUE(stack_->Show("flaky:v2").is_null());
  EXPECT_FALSE(stack_->Show("flaky@" + pushed->manifest_digest).is_null());
  EXPECT_NE(testing::ReadFile(stack_->proxy->log_path()).find("retrying in"), std::string::npos);
}

TEST_F(HookTest, DeleteUntagsAndManualIngestWorksWithAndWithoutAProxy) {
  auto pushed = testing::PushTestImage(*stack_->registry, "del", "v1");
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  stack_->WaitFor("del:v1");
  // Delete the manifest in the registry: its delete event untags it.
  auto client = http::NewClient({});
  http::Request del;
  del.method = "DELETE";
  del.url = stack_->registry->url() + "/v2/del/manifests/" + pushed->manifest_digest;
  auto res = client->Send(del);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->status, 202) << res->body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!stack_->Show("del:v1").is_null()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << testing::ReadFile(stack_->proxy->log_path());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // Manual ingestion through the running proxy.
  auto pushed2 = testing::PushTestImage(*stack_->registry, "manual", "v1");
  ASSERT_TRUE(pushed2.ok());
  auto ing = stack_->proxy->Cli(
      {"ingest", "manual:v1", stack_->registry->host() + "/manual@" + pushed2->manifest_digest});
  EXPECT_EQ(ing.exit_code, 0) << ing.err;
  EXPECT_NE(ing.out.find("manual:v1"), std::string::npos) << ing.out;
  auto missing = stack_->proxy->Cli({"ingest", "manual:nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("manual:nope"), std::string::npos) << missing.err;
  auto other = stack_->proxy->Cli({"ingest", "other.example:5000/manual:v1"});
  EXPECT_EQ(other.exit_code, 1);

  // ... and directly on the DB when no proxy runs.
  stack_->proxy->Kill();
  auto pushed3 = testing::PushTestImage(*stack_->registry, "direct", "v1");
  ASSERT_TRUE(pushed3.ok());
  auto direct = stack_->proxy->Cli({"ingest", "direct:v1"});
  EXPECT_EQ(direct.exit_code, 0) << direct.err;
  auto show = stack_->proxy->Cli({"db", "show", "direct:v1", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["digest"], pushed3->manifest_digest);
  auto notfound = stack_->proxy->Cli({"db", "show", "direct:nope"});
  EXPECT_EQ(notfound.exit_code, 1);
  EXPECT_NE(notfound.err.find("not in the directory DB"), std::string::npos) << notfound.err;
}

TEST(HookConvertOnPushTest, ConvertsNonSeekablePushesOnceWithoutLoops) {
  ProxyOptions po;
  po.convert_suffix = "-starlight";
  auto stack = Stack::Start(po);
  ASSERT_NE(stack, nullptr);
  TreeImage img;
  testing::TestImageOptions o;
  o.layer_tars = img.tars;
  auto pushed = testing::PushTestImage(*stack->registry, "conv", "v1", o);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  json converted = stack->WaitFor(
      "conv:v1-starlight",
      [](const json& j) {
        return j["images"].size() == 1 && j["images"][0]["seekable"].get<bool>();
      },
      120);
  ASSERT_FALSE(converted.is_null());
  EXPECT_EQ(converted["images"][0]["layers"].size(), 3u);
  json orig = stack->Show("conv:v1");
  ASSERT_FALSE(orig.is_null());
  EXPECT_FALSE(orig["images"][0]["seekable"].get<bool>());
  stack->WaitIdle();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stack->WaitIdle();
  auto list = stack->proxy->Cli({"db", "images", "--json"});
  ASSERT_EQ(list.exit_code, 0);
  json images = json::parse(list.out);
  EXPECT_EQ(images.size(), 2u) << images.dump(1);  // no conv:v1-starlight-starlight
}

}  // namespace
}  // namespace starlight::hook
