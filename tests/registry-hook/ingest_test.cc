// hook::Ingester at library level, with real parts: a docker-registry (tests/testing/registry),
// images converted by the project's converter (whole images with converter::ConvertImage, single
// layers in process with seekable::ConvertLayer) or written by hand (blobs, config and manifest
// pushed with the registry client, to make layers the converter would never produce), and a
// LevelDB directory DB in a temporary directory. Each test commits the ingester's batch itself,
// and only when ingestion succeeded.
#include "registry-hook/ingest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>

#include "converter/image.h"
#include "core/digest/digest.h"
#include "core/dirdb/dirdb.h"
#include "core/flatten/flatten.h"
#include "core/http/client.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/registry/client.h"
#include "core/seekable/format.h"
#include "core/seekable/writer.h"
#include "core/toc/toc.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/registry/registry_fixture.h"
#include "tests/testing/registry/test_image.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight::hook {
namespace {

using nlohmann::json;
using testing::RegistryFixture;
using testing::RegistryOptions;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
constexpr char kOciGzipLayer[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kOciZstdLayer[] = "application/vnd.oci.image.layer.v1.tar+zstd";
constexpr char kDockerGzipLayer[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";

registry::ClientOptions ClientFor(const RegistryFixture& f, int max_attempts = 2) {
  registry::ClientOptions o;
  o.plain_http = !f.options().tls;
  o.ca_cert_file = f.ca_cert_path();
  if (f.options().auth != RegistryOptions::kNone)
    o.credentials = {f.options().user, f.options().password};
  o.max_attempts = max_attempts;
  o.initial_backoff_ms = 10;
  return o;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A layer of a hand-written image: the blob as pushed, its descriptor's media type, and the
// diffID the config lists for it.
struct HandLayer {
  std::string blob;
  std::string media_type = kOciGzipLayer;
  digest::Digest diff_id;
  digest::Digest digest() const { return digest::Sha256Of(blob); }
};

// Converts an uncompressed tar in process; the layer's diffID is the ToC's.
HandLayer ConvertedLayer(const std::string& tar) {
  auto src = io::NewStringSource(tar);
  io::StringSink sink;
  seekable::WriterOptions o;
  o.threads = 2;
  auto r = seekable::ConvertLayer(src.get(), &sink, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  HandLayer l;
  l.blob = std::move(sink.data);
  l.diff_id = digest::Sha256Of(tar);
  if (r.ok()) {
    EXPECT_EQ(r->toc.diff_id, l.diff_id);
  }
  return l;
}

// An ordinary gzip layer (one zlib member), as `docker build` makes them.
HandLayer PlainLayer(const std::string& tar) {
  HandLayer l;
  l.blob = testing::GzipCompress(tar);
  l.diff_id = digest::Sha256Of(tar);
  return l;
}

std::string SmallTar(const std::string& name, const std::string& content) {
  testing::TarBuilder b;
  b.Dir("opt/").File("opt/" + name, content).End();
  return b.bytes();
}

seekable::Footer FooterOf(const std::string& blob) {
  auto f = seekable::DecodeFooterMember(
      std::string_view(blob).substr(blob.size() - seekable::kFooterMemberSize));
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : seekable::Footer{};
}

Status PushBytes(registry::RegistryClient* c, const std::string& repo, const std::string& bytes) {
  auto reader = io::NewStringReader(bytes);
  return c->PushBlob(repo, digest::Sha256Of(bytes), *reader);
}

std::string ConfigFor(const std::vector<digest::Digest>& diff_ids) {
  json ids = json::array();
  for (const auto& d : diff_ids) ids.push_back(d.ToString());
  return json{{"architecture", "amd64"},
              {"os", "linux"},
              {"config", json::object()},
              {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}
      .dump();
}

std::string ManifestFor(const std::string& config, const std::vector<HandLayer>& layers) {
  json ls = json::array();
  for (const auto& l : layers) {
    ls.push_back(
        {{"mediaType", l.media_type}, {"digest", l.digest().ToString()}, {"size", l.blob.size()}});
  }
  return json{{"schemaVersion", 2},
              {"mediaType", kOciManifest},
              {"config",
               {{"mediaType", kOciConfig},
                {"digest", digest::Sha256Of(config).ToString()},
                {"size", config.size()}}},
              {"layers", ls}}
      .dump();
}

// Pushes the layers, `config` (default: one listing the layers' diffIDs) and an OCI manifest
// to repo:tag. Returns the manifest digest.
Result<digest::Digest> PushHandImage(registry::RegistryClient* c, const std::string& repo,
                                     const std::string& tag, const std::vector<HandLayer>& layers,
                                     std::optional<std::string> config = std::nullopt) {
  if (!config) {
    std::vector<digest::Digest> ids;
    for (const auto& l : layers) ids.push_back(l.diff_id);
    config = ConfigFor(ids);
  }
  for (const auto& l : layers) SL_RETURN_IF_ERROR(PushBytes(c, repo, l.blob));
  SL_RETURN_IF_ERROR(PushBytes(c, repo, *config));
  return c->PushManifest(repo, tag, kOciManifest, ManifestFor(*config, layers));
}

// DbStats without disk_bytes (LevelDB compacts its log on its own schedule).
std::vector<uint64_t> Counts(const dirdb::DbStats& s) {
  return {s.layers,     s.seekable_layers, s.images,    s.indexes,     s.tags,
          s.rank_paths, s.queued_events,   s.toc_bytes, s.merged_bytes};
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith({}); }

  void StartWith(RegistryOptions ro) {
    auto reg = RegistryFixture::Start(ro);
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    registry_ = std::move(*reg);
    client_ = registry::NewRegistryClient(registry_->host(), ClientFor(*registry_));
    auto db = dirdb::OpenLevelDb(tmp_.Join("db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    ingester_ = std::make_unique<Ingester>(client_.get(), db_.get());
  }

  // Ingests and commits on success; on error the batch is dropped, whatever it holds.
  Result<IngestReport> Ingest(const std::string& repo, const std::string& ref,
                              Ingester* ingester = nullptr) {
    dirdb::WriteBatch batch;
    auto r = (ingester ? ingester : ingester_.get())->Ingest(repo, ref, &batch);
    if (r.ok()) {
      Status c = db_->Commit(batch);
      if (!c.ok()) return c;
    }
    return r;
  }

  std::vector<uint64_t> Stats() {
    auto s = db_->Stats();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? Counts(*s) : std::vector<uint64_t>{};
  }

  dirdb::LayerRecord Layer(const digest::Digest& d) {
    auto r = db_->GetLayer(d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r->has_value()) << "layer " << d.ToString() << " not in the DB";
    return r.ok() && r->has_value() ? **r : dirdb::LayerRecord{};
  }

  dirdb::ImageRecord Image(const digest::Digest& d) {
    auto r = db_->GetImage(d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r->has_value()) << "image " << d.ToString() << " not in the DB";
    return r.ok() && r->has_value() ? **r : dirdb::ImageRecord{};
  }

  // Paths of the image's merged tree, decoded against its layers' stored ToCs.
  std::set<std::string> MergedPaths(const dirdb::ImageRecord& image) {
    std::vector<toc::Toc> tocs;
    for (const auto& d : image.layers) {
      auto t = toc::DecodeToc(Layer(d).toc);
      EXPECT_TRUE(t.ok()) << t.status().ToString();
      tocs.push_back(t.ok() ? *t : toc::Toc{});
    }
    std::vector<const toc::Toc*> ptrs;
    for (const auto& t : tocs) ptrs.push_back(&t);
    auto tree = flatten::DecodeMergedTree(image.merged, ptrs);
    EXPECT_TRUE(tree.ok()) << tree.status().ToString();
    std::set<std::string> paths;
    if (tree.ok()) {
      for (const auto& n : tree->nodes) paths.insert(n.path);
    }
    return paths;
  }

  void Convert(const std::string& from, const std::string& to) {
    converter::ImageOptions o;
    o.source = "docker://" + registry_->host() + "/" + from;
    o.destination = "docker://" + registry_->host() + "/" + to;
    o.source_store.registry = ClientFor(*registry_);
    o.destination_store.registry = ClientFor(*registry_);
    o.threads = 2;
    auto r = converter::ConvertImage(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  testing::TempDir tmp_;
  std::unique_ptr<RegistryFixture> registry_;
  std::unique_ptr<registry::RegistryClient> client_;
  std::unique_ptr<dirdb::DirectoryDb> db_;
  std::unique_ptr<Ingester> ingester_;
};

// --- 1. multi-platform index ---------------------------------------------------------------

TEST_F(IngestTest, MultiPlatformIndexStoresSharedLayerOnceAndReingestsNothing) {
  // Two platforms sharing their base layer, one layer of their own each (as in
  // tests/converter/image_test.cc), then converted.
  testing::TestImageOptions a, b;
  a.layers = {{{"opt/app/hello.txt", "hello\n"}, {"opt/app/data.bin", std::string(100000, 'x')}},
              {{"opt/app/conf/a.conf", "a=1\n"}}};
  b.layers = {a.layers[0], {{"opt/app/arm.txt", "arm64 build\n"}}};
  auto ia = testing::PushTestImage(*registry_, "multi/app", "amd64", a);
  auto ib = testing::PushTestImage(*registry_, "multi/app", "arm64", b);
  ASSERT_TRUE(ia.ok()) << ia.status().ToString();
  ASSERT_TRUE(ib.ok()) << ib.status().ToString();
  ASSERT_EQ(ia->layers[0].digest, ib->layers[0].digest) << "shared base layer";
  auto ma = client_->GetManifest("multi/app", "amd64");
  auto mb = client_->GetManifest("multi/app", "arm64");
  ASSERT_TRUE(ma.ok() && mb.ok());
  json index = {
      {"schemaVersion", 2},
      {"mediaType", registry::kOciIndex},
      {"manifests",
       {{{"mediaType", ma->media_type},
         {"digest", ma->digest.ToString()},
         {"size", ma->bytes.size()},
         {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
        {{"mediaType", mb->media_type},
         {"digest", mb->digest.ToString()},
         {"size", mb->bytes.size()},
         {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}}}}};
  ASSERT_TRUE(client_->PushManifest("multi/app", "v1", registry::kOciIndex, index.dump()).ok());
  Convert("multi/app:v1", "multi/app:v1-sl");

  auto r = Ingest("multi/app", "v1-sl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->is_index);
  EXPECT_EQ(r->tag, "v1-sl");
  EXPECT_EQ(r->manifests, 2);
  EXPECT_EQ(r->manifests_known, 0);
  EXPECT_EQ(r->layers_new, 3) << "the shared layer is fetched once";
  EXPECT_EQ(r->layers_known, 1) << "the second platform's base layer";
  EXPECT_EQ(r->layers_not_seekable, 0);
  EXPECT_GT(r->bytes_fetched, 0u);
  EXPECT_LT(r->bytes_fetched, r->new_layer_bytes);
  EXPECT_GT(r->files, 0u);
  EXPECT_TRUE(Contains(DescribeIngestReport(*r), "multi/app:v1-sl")) << DescribeIngestReport(*r);

  auto served = client_->GetManifest("multi/app", "v1-sl");
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(r->digest, served->digest);
  auto tag = db_->GetTag("multi/app", "v1-sl");
  ASSERT_TRUE(tag.ok() && tag->has_value());
  EXPECT_EQ((*tag)->digest, served->digest);
  EXPECT_TRUE((*tag)->is_index);

  auto idx = db_->GetIndex(served->digest);
  ASSERT_TRUE(idx.ok() && idx->has_value());
  EXPECT_EQ((*idx)->manifest, served->bytes) << "stored verbatim";
  ASSERT_EQ((*idx)->manifests.size(), 2u);
  EXPECT_EQ((*idx)->manifests[0].platform, "linux/amd64");
  EXPECT_EQ((*idx)->manifests[1].platform, "linux/arm64/v8");

  std::set<digest::Digest> distinct;
  std::vector<dirdb::ImageRecord> images;
  for (const auto& p : (*idx)->manifests) {
    dirdb::ImageRecord image = Image(p.digest);
    EXPECT_TRUE(image.seekable);
    EXPECT_FALSE(image.merged.empty());
    ASSERT_EQ(image.layers.size(), 2u);
    for (const auto& l : image.layers) {
      distinct.insert(l);
      dirdb::LayerRecord layer = Layer(l);
      EXPECT_TRUE(layer.seekable) << layer.reason;
      EXPECT_TRUE(layer.reason.empty());
      EXPECT_FALSE(layer.toc.empty());
      EXPECT_EQ(layer.media_type, kOciGzipLayer);
    }
    images.push_back(std::move(image));
  }
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].layers[0], images[1].layers[0]) << "the converted base layer is shared too";
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(Layer(images[0].layers[0]).diff_id.ToString(), ia->layers[0].diff_id)
      << "converted keeps diffIDs";
  EXPECT_EQ(Layer(images[0].layers[1]).diff_id.ToString(), ia->layers[1].diff_id);
  EXPECT_EQ(Layer(images[1].layers[1]).diff_id.ToString(), ib->layers[1].diff_id);

  auto amd = MergedPaths(images[0]);
  auto arm = MergedPaths(images[1]);
  EXPECT_TRUE(amd.count("opt/app/hello.txt") && amd.count("opt/app/conf/a.conf"));
  EXPECT_FALSE(amd.count("opt/app/arm.txt"));
  EXPECT_TRUE(arm.count("opt/app/hello.txt") && arm.count("opt/app/arm.txt"));
  EXPECT_FALSE(arm.count("opt/app/conf/a.conf"));

  auto stats = db_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->layers, distinct.size()) << "one record per distinct layer";
  EXPECT_EQ(stats->seekable_layers, 3u);
  EXPECT_EQ(stats->images, 2u);
  EXPECT_EQ(stats->indexes, 1u);
  EXPECT_EQ(stats->tags, 1u);

  // The same tag again: everything is known, nothing is fetched, nothing is added.
  auto before = Stats();
  uint64_t requests_before = client_->requests();
  auto again = Ingest("multi/app", "v1-sl");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->digest, r->digest);
  EXPECT_EQ(again->manifests, 0);
  EXPECT_EQ(again->manifests_known, 2);
  EXPECT_EQ(again->layers_new, 0);
  EXPECT_EQ(again->layers_known, 0) << "known images are not opened again";
  EXPECT_EQ(again->bytes_fetched, 0u);
  EXPECT_EQ(client_->requests() - requests_before, 1u) << "only the index itself";
  EXPECT_EQ(Stats(), before);

  // By digest: no tag is set, nothing new either.
  auto by_digest = Ingest("multi/app", r->digest.ToString());
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().ToString();
  EXPECT_EQ(by_digest->tag, "");
  EXPECT_EQ(by_digest->manifests_known, 2);
  EXPECT_EQ(Stats(), before);
}

// --- 2. Docker schema 2 --------------------------------------------------------------------

TEST_F(IngestTest, DockerSchema2ImageIngests) {
  testing::TestImageOptions o;
  o.layers = {{{"opt/d/one.txt", "one\n"}}, {{"opt/d/two.txt", "two\n"}}};
  o.docker_schema2 = true;
  auto img = testing::PushTestImage(*registry_, "docker", "orig", o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  Convert("docker:orig", "docker:sl");

  auto r = Ingest("docker", "sl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->is_index);
  EXPECT_EQ(r->manifests, 1);
  EXPECT_EQ(r->layers_new, 2);
  EXPECT_EQ(r->layers_not_seekable, 0);
  dirdb::ImageRecord image = Image(r->digest);
  EXPECT_EQ(image.media_type, registry::kDockerManifest);
  EXPECT_EQ(image.platform, "linux/amd64");
  EXPECT_EQ(image.config_digest.ToString(), img->config_digest) << "the converter keeps the config";
  EXPECT_TRUE(image.seekable);
  ASSERT_EQ(image.layers.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    dirdb::LayerRecord l = Layer(image.layers[i]);
    EXPECT_TRUE(l.seekable) << l.reason;
    EXPECT_EQ(l.media_type, kDockerGzipLayer);
    EXPECT_EQ(l.diff_id.ToString(), img->layers[i].diff_id);
  }
  auto paths = MergedPaths(image);
  EXPECT_TRUE(paths.count("opt/d/one.txt") && paths.count("opt/d/two.txt"));

  // The unconverted original is recorded too, as not seekable.
  auto orig = Ingest("docker", "orig");
  ASSERT_TRUE(orig.ok()) << orig.status().ToString();
  EXPECT_EQ(orig->layers_not_seekable, 2);
  EXPECT_FALSE(Image(orig->digest).seekable);
}

// --- 3. bytes and requests -----------------------------------------------------------------

TEST_F(IngestTest, ReadsOnlyFooterAndTocWithFewRequests) {
  testing::TarBuilder t;
  std::string text = testing::PseudoRandomBytes(9u << 20, 11, /*text=*/true);
  t.Dir("opt/").File("opt/big.txt", text).File("opt/small.txt", "small\n").End();
  testing::TestImageOptions o;
  o.layer_tars = {t.bytes()};
  ASSERT_TRUE(testing::PushTestImage(*registry_, "big", "orig", o).ok());
  Convert("big:orig", "big:sl");
  auto m = client_->GetManifest("big", "sl");
  ASSERT_TRUE(m.ok());
  digest::Digest layer_digest =
      *digest::Digest::Parse(json::parse(m->bytes)["layers"][0]["digest"].get<std::string>());
  std::string blob;
  ASSERT_TRUE(client_
                  ->FetchBlob("big", layer_digest,
                              [&](std::string_view b) {
                                blob.append(b);
                                return Status::Ok();
                              })
                  .ok());
  ASSERT_GE(blob.size(), 1u << 20) << "the layer must be at least 1 MB";
  seekable::Footer footer = FooterOf(blob);
  uint64_t expected = seekable::kFooterMemberSize + footer.toc_members_size;

  // A client of its own, so its request counter covers this ingestion alone.
  auto client = registry::NewRegistryClient(registry_->host(), ClientFor(*registry_));
  Ingester ingester(client.get(), db_.get());
  auto r = Ingest("big", "sl", &ingester);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  dirdb::LayerRecord l = Layer(layer_digest);
  EXPECT_TRUE(l.seekable) << l.reason;
  EXPECT_EQ(l.size, blob.size());
  EXPECT_EQ(l.fetched_bytes, expected) << "footer + ToC members, nothing else";
  EXPECT_EQ(r->bytes_fetched, expected);
  EXPECT_EQ(r->new_layer_bytes, blob.size());
  EXPECT_LT(l.fetched_bytes * 50, blob.size()) << "under 2 % of the blob";
  // Anonymous registry, no redirects: GET manifest, GET config, GET footer range, GET ToC
  // range. Nothing is retried, nothing pinged.
  EXPECT_LE(client->requests(), 4u);
  EXPECT_GE(client->requests(), 4u) << "all four documents must really have been read";
  EXPECT_EQ(client->token_fetches(), 0u);
}

TEST(IngestTokenTest, RequestsWithBearerAuthAddOnlyOneChallengeRound) {
  RegistryOptions ro;
  ro.auth = RegistryOptions::kToken;
  auto reg = RegistryFixture::Start(ro);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  auto pusher = registry::NewRegistryClient((*reg)->host(), ClientFor(**reg));
  testing::TarBuilder t;
  t.Dir("opt/").File("opt/big.txt", testing::PseudoRandomBytes(1u << 20, 5, true)).End();
  HandLayer layer = ConvertedLayer(t.bytes());
  auto pushed = PushHandImage(pusher.get(), "tok", "v1", {layer});
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();

  testing::TempDir tmp;
  auto db = dirdb::OpenLevelDb(tmp.Join("db"));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto client = registry::NewRegistryClient((*reg)->host(), ClientFor(**reg));
  Ingester ingester(client.get(), db->get());
  dirdb::WriteBatch batch;
  auto r = ingester.Ingest("tok", "v1", &batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->layers_new, 1);
  EXPECT_EQ(r->layers_not_seekable, 0);
  // The four reads of the anonymous case, plus the first one's 401 and one token fetch: every
  // request has the same pull scope, so the token is fetched once and reused.
  EXPECT_EQ(client->token_fetches(), 1u);
  EXPECT_LE(client->requests(), 6u);
}

// --- 4. layers that are not seekable -------------------------------------------------------

TEST_F(IngestTest, NonSeekableLayersAreRecordedWithReasons) {
  const std::string repo = "bad";

  // A plain gzip layer.
  HandLayer plain = PlainLayer(SmallTar("plain.txt", "plain\n"));
  auto d_plain = PushHandImage(client_.get(), repo, "plain", {plain});
  ASSERT_TRUE(d_plain.ok()) << d_plain.status().ToString();

  // A good converted layer under one whose embedded ToC is damaged: one byte in the middle of
  // the ToC members (inside the ToC subfield's deflate data). The decompressed stream, hence
  // the diffID, is unchanged: ToC members are empty gzip members.
  HandLayer good = ConvertedLayer(SmallTar("good.txt", "good\n"));
  HandLayer damaged =
      ConvertedLayer(SmallTar("damaged.txt", testing::PseudoRandomBytes(20000, 3, true)));
  seekable::Footer f = FooterOf(damaged.blob);
  ASSERT_GT(f.toc_members_size, 64u);
  damaged.blob[f.toc_offset + f.toc_members_size / 2] ^= 0x5a;
  std::string decompressed;
  std::string error;
  ASSERT_TRUE(testing::Gunzip(damaged.blob, &decompressed, &error)) << error;
  ASSERT_EQ(digest::Sha256Of(decompressed), damaged.diff_id)
      << "the damage must leave the diffID right";
  auto d_damaged = PushHandImage(client_.get(), repo, "damaged", {good, damaged});
  ASSERT_TRUE(d_damaged.ok()) << d_damaged.status().ToString();

  // A converted layer whose config lists another diffID.
  HandLayer lying = ConvertedLayer(SmallTar("lying.txt", "lying\n"));
  digest::Digest wrong = digest::Sha256Of("not the tar");
  auto d_lying = PushHandImage(client_.get(), repo, "lying", {lying}, ConfigFor({wrong}));
  ASSERT_TRUE(d_lying.ok()) << d_lying.status().ToString();

  // A zstd layer descriptor (even though the blob happens to be a converted gzip layer).
  HandLayer zstd = ConvertedLayer(SmallTar("zstd.txt", "zstd\n"));
  zstd.media_type = kOciZstdLayer;
  auto d_zstd = PushHandImage(client_.get(), repo, "zstd", {zstd});
  ASSERT_TRUE(d_zstd.ok()) << d_zstd.status().ToString();

  // Layer records hold facts about blobs (shared by every image using them); what depends on
  // the image (media type, config diffID) makes the image, not the layer, not seekable.
  struct Case {
    std::string tag;
    digest::Digest manifest, layer;
    std::string reason;
    int layers;
    bool layer_seekable;
  };
  std::vector<Case> cases = {
      {"plain", *d_plain, plain.digest(), "no Starlight footer", 1, false},
      {"damaged", *d_damaged, damaged.digest(), "ToC", 2, false},
      {"lying", *d_lying, lying.digest(), "differs from the config", 1, true},
      {"zstd", *d_zstd, zstd.digest(), "not a gzip layer", 1, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.tag);
    auto r = Ingest(repo, c.tag);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->digest, c.manifest);
    EXPECT_EQ(r->manifests, 1);
    EXPECT_EQ(r->layers_new, c.layers);
    EXPECT_EQ(r->layers_not_seekable, c.layer_seekable ? 0 : 1);
    EXPECT_EQ(r->images_not_seekable, 1);
    EXPECT_EQ(r->files, 0u) << "no merged tree";
    EXPECT_TRUE(Contains(DescribeIngestReport(*r), "NOT seekable"));
    dirdb::LayerRecord l = Layer(c.layer);
    EXPECT_EQ(l.seekable, c.layer_seekable) << l.reason;
    if (!c.layer_seekable) {
      EXPECT_TRUE(Contains(l.reason, c.reason)) << l.reason;
      EXPECT_TRUE(l.toc.empty()) << "never indexed";
    }
    dirdb::ImageRecord image = Image(c.manifest);
    EXPECT_FALSE(image.seekable);
    EXPECT_TRUE(Contains(image.reason, c.reason)) << image.reason;
    EXPECT_TRUE(image.merged.empty());
    EXPECT_EQ(image.layers.size(), static_cast<size_t>(c.layers));
    auto tag = db_->GetTag(repo, c.tag);
    ASSERT_TRUE(tag.ok() && tag->has_value()) << "not seekable is still ingested and tagged";
    EXPECT_EQ((*tag)->digest, c.manifest);
  }
  // Details of single cases.
  EXPECT_EQ(Layer(plain.digest()).diff_id, plain.diff_id) << "from the config";
  EXPECT_GT(Layer(plain.digest()).fetched_bytes, 0u) << "the footer range was read";
  dirdb::LayerRecord g = Layer(good.digest());
  EXPECT_TRUE(g.seekable) << g.reason << ": the good layer under the damaged one is still indexed";
  EXPECT_FALSE(g.toc.empty());
  EXPECT_TRUE(Contains(Image(*d_lying).reason, wrong.ToString())) << Image(*d_lying).reason;

  // The blob the lying image used, in an honest image: seekable, with a merged tree, and the
  // layer is not fetched again.
  auto d_honest = PushHandImage(client_.get(), repo, "honest", {lying});
  ASSERT_TRUE(d_honest.ok()) << d_honest.status().ToString();
  auto honest = Ingest(repo, "honest");
  ASSERT_TRUE(honest.ok()) << honest.status().ToString();
  EXPECT_EQ(honest->layers_new, 0);
  EXPECT_EQ(honest->images_not_seekable, 0);
  EXPECT_TRUE(Image(*d_honest).seekable) << Image(*d_honest).reason;
  EXPECT_FALSE(Image(*d_honest).merged.empty());

  auto stats = db_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->layers, 5u);
  EXPECT_EQ(stats->seekable_layers, 3u);
  EXPECT_EQ(stats->images, 5u);
}

// --- 5. errors keep their codes ------------------------------------------------------------

TEST_F(IngestTest, ErrorsKeepTheirCodesAndNothingIsStored) {
  HandLayer layer = PlainLayer(SmallTar("x.txt", "x\n"));
  auto d = PushHandImage(client_.get(), "err", "v1", {layer});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  auto empty = Stats();

  auto missing_tag = Ingest("err", "nope");
  ASSERT_FALSE(missing_tag.ok());
  EXPECT_EQ(missing_tag.status().code(), Code::kNotFound) << missing_tag.status().ToString();
  auto missing_repo = Ingest("no/such/repo", "v1");
  ASSERT_FALSE(missing_repo.ok());
  EXPECT_EQ(missing_repo.status().code(), Code::kNotFound) << missing_repo.status().ToString();
  auto missing_digest = Ingest("err", digest::Sha256Of("no such manifest").ToString());
  ASSERT_FALSE(missing_digest.ok());
  EXPECT_EQ(missing_digest.status().code(), Code::kNotFound) << missing_digest.status().ToString();

  // docker-registry refuses a manifest that is not JSON: it can never reach the ingester.
  auto malformed =
      client_->PushManifest("err", "malformed", kOciManifest, "{\"schemaVersion\": 2, ");
  EXPECT_FALSE(malformed.ok());

  // A config blob that is not JSON (the registry does not look into configs).
  std::string bad_config = "this is not a config";
  auto d_bad = PushHandImage(client_.get(), "err", "badconfig", {layer}, bad_config);
  ASSERT_TRUE(d_bad.ok()) << d_bad.status().ToString();
  auto bad = Ingest("err", "badconfig");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument) << bad.status().ToString();

  // A config listing more diffIDs than the manifest has layers.
  auto d_count = PushHandImage(client_.get(), "err", "count", {layer},
                               ConfigFor({layer.diff_id, layer.diff_id}));
  ASSERT_TRUE(d_count.ok()) << d_count.status().ToString();
  auto count = Ingest("err", "count");
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), Code::kInvalidArgument) << count.status().ToString();

  // A manifest whose config blob is gone (deleted from the repository after the push).
  std::string lone_config = ConfigFor({layer.diff_id}) + " ";
  auto d_gone = PushHandImage(client_.get(), "err", "noconfig", {layer}, lone_config);
  ASSERT_TRUE(d_gone.ok()) << d_gone.status().ToString();
  http::Request del;
  del.method = "DELETE";
  del.url = registry_->url() + "/v2/err/blobs/" + digest::Sha256Of(lone_config).ToString();
  auto res = http::NewClient({})->Send(del);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->status, 202) << res->body;
  dirdb::WriteBatch batch;
  auto gone = ingester_->Ingest("err", "noconfig", &batch);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().ToString();
  EXPECT_TRUE(Contains(gone.status().message(), "config")) << gone.status().ToString();

  EXPECT_EQ(Stats(), empty) << "failed ingestions are not committed";

  // The registry down: Unavailable (worth retrying), with one attempt and no backoff wait.
  auto once =
      registry::NewRegistryClient(registry_->host(), ClientFor(*registry_, /*max_attempts=*/1));
  Ingester ingester(once.get(), db_.get());
  registry_->Kill();
  auto down = Ingest("err", "v1", &ingester);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  EXPECT_EQ(Stats(), empty);

  // Back up: the same ingestion succeeds.
  ASSERT_TRUE(registry_->Restart().ok());
  auto up = Ingest("err", "v1", &ingester);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->digest, *d);
}

// docker-registry accepts a manifest whose layer descriptor claims more bytes than the blob
// has. The footer's range is then unsatisfiable, which used to come back as Unavailable: the
// hook's queue would retry the event forever. It is a fact about the image: InvalidArgument.
TEST_F(IngestTest, DescriptorLargerThanTheBlobIsInvalidArgument) {
  HandLayer layer = ConvertedLayer(SmallTar("s.txt", "s\n"));
  std::string config = ConfigFor({layer.diff_id});
  ASSERT_TRUE(PushBytes(client_.get(), "size", layer.blob).ok());
  ASSERT_TRUE(PushBytes(client_.get(), "size", config).ok());
  json m = json::parse(ManifestFor(config, {layer}));
  m["layers"][0]["size"] = layer.blob.size() + 1000;
  ASSERT_TRUE(client_->PushManifest("size", "v1", kOciManifest, m.dump()).ok());
  auto r = Ingest("size", "v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), std::to_string(layer.blob.size())))
      << r.status().ToString();
  auto stats = db_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->layers, 0u);
}

// --- 6. untag ------------------------------------------------------------------------------

TEST_F(IngestTest, UntagFollowsTheRegistry) {
  HandLayer layer = PlainLayer(SmallTar("u.txt", "u\n"));
  auto d = PushHandImage(client_.get(), "untag", "v1", {layer});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  auto m = client_->GetManifest("untag", "v1");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(client_->PushManifest("untag", "v2", m->media_type, m->bytes).ok());
  ASSERT_TRUE(Ingest("untag", "v1").ok());
  ASSERT_TRUE(Ingest("untag", "v2").ok());

  // The registry still serves both tags at the same digest: a (replayed) delete keeps them.
  for (const std::string& tag : {std::string("v1"), std::string("")}) {
    dirdb::WriteBatch batch;
    auto kept = ingester_->Untag("untag", tag, d->ToString(), &batch);
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    EXPECT_TRUE(kept->empty()) << "tag '" << tag << "'";
    EXPECT_TRUE(batch.empty());
  }

  // Deleted in the registry (by digest, which removes every tag): a delete by tag removes that
  // tag, a delete by digest every tag pointing at it.
  http::Request del;
  del.method = "DELETE";
  del.url = registry_->url() + "/v2/untag/manifests/" + d->ToString();
  auto res = http::NewClient({})->Send(del);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->status, 202) << res->body;
  {
    dirdb::WriteBatch batch;
    auto removed = ingester_->Untag("untag", "v1", d->ToString(), &batch);
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    EXPECT_EQ(*removed, std::vector<std::string>{"v1"});
    ASSERT_TRUE(db_->Commit(batch).ok());
  }
  auto v1 = db_->GetTag("untag", "v1");
  ASSERT_TRUE(v1.ok());
  EXPECT_FALSE(v1->has_value());
  {
    dirdb::WriteBatch batch;
    auto removed = ingester_->Untag("untag", "", d->ToString(), &batch);
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    EXPECT_EQ(*removed, std::vector<std::string>{"v2"});
    ASSERT_TRUE(db_->Commit(batch).ok());
  }
  auto stats = db_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->tags, 0u);
  EXPECT_EQ(stats->images, 1u) << "untagging keeps the content-addressed records";

  // A tag the DB does not know: nothing to do.
  dirdb::WriteBatch batch;
  auto none = ingester_->Untag("untag", "never", "", &batch);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

// --- 7. layers that cannot be stacked ------------------------------------------------------

TEST_F(IngestTest, UnstackableLayersAreSeekableButTheImageHasNoMergedTree) {
  testing::TarBuilder t0, t1;
  t0.Dir("opt/").File("opt/base.txt", "base\n").End();
  t1.Dir("opt/").File("opt/top.txt", "top\n").Hardlink("opt/link", "opt/missing.txt").End();
  testing::TestImageOptions o;
  o.layer_tars = {t0.bytes(), t1.bytes()};
  auto img = testing::PushTestImage(*registry_, "stack", "orig", o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  Convert("stack:orig", "stack:sl");

  auto r = Ingest("stack", "sl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->layers_new, 2);
  EXPECT_EQ(r->layers_not_seekable, 0);
  EXPECT_EQ(r->files, 0u);
  dirdb::ImageRecord image = Image(r->digest);
  EXPECT_FALSE(image.seekable);
  EXPECT_TRUE(image.merged.empty());
  ASSERT_EQ(image.layers.size(), 2u);
  for (const auto& d : image.layers) {
    dirdb::LayerRecord l = Layer(d);
    EXPECT_TRUE(l.seekable) << l.reason;
    EXPECT_FALSE(l.toc.empty());
  }
  auto tag = db_->GetTag("stack", "sl");
  ASSERT_TRUE(tag.ok() && tag->has_value());
  EXPECT_EQ((*tag)->digest, r->digest);
}

}  // namespace
}  // namespace starlight::hook
