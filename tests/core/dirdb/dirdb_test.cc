// Tests of core/dirdb: one conformance suite (DirectoryDbConformance) run against every
// DirectoryDb implementation (LevelDB today), then LevelDB-specific tests: locking, schema
// checks, foreign and damaged databases, and crash safety under SIGKILL.
//
// Child processes are this test binary re-executed with SL_DIRDB_CHILD set (DirDbChild.DISABLED_Main),
// never a bare fork: LevelDB's background thread does not survive fork().
#include "core/dirdb/dirdb.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/digest/digest.h"
#include "core/dirdb/encoding.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace starlight::dirdb {
namespace {

using digest::Digest;
using digest::Sha256Of;

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    auto&& sl_s_ = (expr);                                 \
    ASSERT_TRUE(sl_s_.ok()) << StatusOf(sl_s_).ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                    \
  do {                                                     \
    auto&& sl_s_ = (expr);                                 \
    EXPECT_TRUE(sl_s_.ok()) << StatusOf(sl_s_).ToString(); \
  } while (0)

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// --- example records ---

LayerRecord MakeLayer(const std::string& name, bool seekable = true) {
  LayerRecord r;
  r.digest = Sha256Of("layer:" + name);
  r.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  r.size = 1000 + name.size();
  r.seekable = seekable;
  r.reason = seekable ? "" : "no footer";
  r.diff_id = seekable ? Sha256Of("diff:" + name) : Digest{};
  r.toc = seekable ? "toc of " + name : "";
  r.fetched_bytes = 4096;
  r.ingested_at = 1700000000;
  return r;
}

ImageRecord MakeImage(const std::string& name, const std::vector<Digest>& layers) {
  ImageRecord r;
  r.digest = Sha256Of("image:" + name);
  r.media_type = "application/vnd.oci.image.manifest.v1+json";
  r.manifest = R"({"schemaVersion":2,"name":")" + name + "\"}";
  r.config_digest = Sha256Of("config:" + name);
  r.config = R"({"os":"linux","architecture":"amd64"})";
  r.platform = "linux/amd64";
  r.layers = layers;
  r.seekable = true;
  r.merged = "merged tree of " + name;
  r.ingested_at = 1700000001;
  return r;
}

IndexRecord MakeIndex(const std::string& name, const std::vector<Digest>& images) {
  IndexRecord r;
  r.digest = Sha256Of("index:" + name);
  r.media_type = "application/vnd.oci.image.index.v1+json";
  r.manifest = R"({"manifests":[]})";
  for (size_t i = 0; i < images.size(); ++i)
    r.manifests.push_back({images[i], i ? "linux/arm64" : "linux/amd64"});
  r.manifests.push_back({Sha256Of("attestation"), ""});
  r.ingested_at = 1700000002;
  return r;
}

TagRecord MakeTag(std::string repo, std::string tag, const Digest& d, bool is_index = false) {
  return TagRecord{std::move(repo), std::move(tag), d, is_index, 1700000003};
}

// --- the implementations under test ---

struct DbFactory {
  std::string name;
  // Opens (creating if needed) the database that lives under `dir`; reopening gives the same data.
  std::function<Result<std::unique_ptr<DirectoryDb>>(const std::string& dir)> open;
  bool reports_disk_bytes = false;
};

std::vector<DbFactory> Factories() {
  return {{"LevelDb", [](const std::string& dir) { return OpenLevelDb(dir + "/db"); }, true}};
}

class DirectoryDbConformance : public ::testing::TestWithParam<DbFactory> {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    auto r = GetParam().open(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    db_ = std::move(r).value();
  }
  void Reopen() {
    db_.reset();
    Open();
  }
  Status Put(const std::function<void(WriteBatch&)>& fill) {
    WriteBatch b;
    fill(b);
    return db_->Commit(b);
  }
  std::vector<TagRecord> Tags(std::string_view repo, size_t stop_after = SIZE_MAX) {
    std::vector<TagRecord> out;
    Status s = db_->ListTags(repo, [&](const TagRecord& t) {
      out.push_back(t);
      return out.size() < stop_after;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  std::vector<QueuedEvent> Events(size_t stop_after = SIZE_MAX) {
    std::vector<QueuedEvent> out;
    Status s = db_->ListEvents([&](const QueuedEvent& e) {
      out.push_back(e);
      return out.size() < stop_after;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<DirectoryDb> db_;
};

TEST_P(DirectoryDbConformance, PutAndGetEveryRecordType) {
  LayerRecord l1 = MakeLayer("a"), l2 = MakeLayer("b", false);
  ImageRecord img = MakeImage("x", {l1.digest, l2.digest});
  img.seekable = false;
  img.merged.clear();
  IndexRecord idx = MakeIndex("x", {img.digest});
  TagRecord t1 = MakeTag("library/x", "1.0", img.digest),
            t2 = MakeTag("library/x", "latest", idx.digest, true);
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutLayer(l1);
    b.PutLayer(l2);
    b.PutImage(img);
    b.PutIndex(idx);
    b.PutTag(t1);
    b.PutTag(t2);
  }));
  auto gl1 = db_->GetLayer(l1.digest);
  ASSERT_OK(gl1);
  EXPECT_EQ(*gl1, l1);
  auto gl2 = db_->GetLayer(l2.digest);
  ASSERT_OK(gl2);
  EXPECT_EQ(*gl2, l2);
  auto gi = db_->GetImage(img.digest);
  ASSERT_OK(gi);
  EXPECT_EQ(*gi, img);
  auto gx = db_->GetIndex(idx.digest);
  ASSERT_OK(gx);
  EXPECT_EQ(*gx, idx);
  auto gt = db_->GetTag("library/x", "latest");
  ASSERT_OK(gt);
  EXPECT_EQ(*gt, t2);
  // Families do not alias: the image digest is not a layer or index.
  auto none = db_->GetLayer(img.digest);
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  auto none2 = db_->GetIndex(img.digest);
  ASSERT_OK(none2);
  EXPECT_FALSE(none2->has_value());
}

TEST_P(DirectoryDbConformance, LargeRecordsRoundTrip) {
  ImageRecord img = MakeImage("big", {});
  for (int i = 0; i < 500; ++i) img.layers.push_back(Sha256Of("l" + std::to_string(i)));
  img.merged.assign(3 << 20, '\0');
  for (size_t i = 0; i < img.merged.size(); i += 7) img.merged[i] = static_cast<char>(i);
  ASSERT_OK(Put([&](WriteBatch& b) { b.PutImage(img); }));
  auto g = db_->GetImage(img.digest);
  ASSERT_OK(g);
  EXPECT_TRUE(**g == img);
}

TEST_P(DirectoryDbConformance, MissingRecordsAreEmpty) {
  auto l = db_->GetLayer(Sha256Of("nope"));
  ASSERT_OK(l);
  EXPECT_FALSE(l->has_value());
  auto i = db_->GetImage(Sha256Of("nope"));
  ASSERT_OK(i);
  EXPECT_FALSE(i->has_value());
  auto x = db_->GetIndex(Sha256Of("nope"));
  ASSERT_OK(x);
  EXPECT_FALSE(x->has_value());
  auto t = db_->GetTag("repo", "nope");
  ASSERT_OK(t);
  EXPECT_FALSE(t->has_value());
  EXPECT_TRUE(Tags("").empty());
  EXPECT_TRUE(Events().empty());
}

TEST_P(DirectoryDbConformance, PutReplaces) {
  LayerRecord l = MakeLayer("a", false);
  ASSERT_OK(Put([&](WriteBatch& b) { b.PutLayer(l); }));
  l = MakeLayer("a", true);
  ASSERT_OK(Put([&](WriteBatch& b) { b.PutLayer(l); }));
  auto g = db_->GetLayer(l.digest);
  ASSERT_OK(g);
  EXPECT_EQ(*g, l);

  ASSERT_OK(Put([&](WriteBatch& b) { b.PutTag(MakeTag("r", "t", Sha256Of("one"))); }));
  TagRecord t2 = MakeTag("r", "t", Sha256Of("two"), true);
  ASSERT_OK(Put([&](WriteBatch& b) { b.PutTag(t2); }));
  auto gt = db_->GetTag("r", "t");
  ASSERT_OK(gt);
  EXPECT_EQ(*gt, t2);
  EXPECT_EQ(Tags("r").size(), 1u);
  // Within one batch the later write wins.
  TagRecord t3 = MakeTag("r", "t", Sha256Of("three"));
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutTag(MakeTag("r", "t", Sha256Of("ignored")));
    b.PutTag(t3);
  }));
  gt = db_->GetTag("r", "t");
  ASSERT_OK(gt);
  EXPECT_EQ(*gt, t3);
}

TEST_P(DirectoryDbConformance, DeleteTag) {
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutTag(MakeTag("r", "a", Sha256Of("1")));
    b.PutTag(MakeTag("r", "b", Sha256Of("2")));
  }));
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.DeleteTag("r", "a");
    b.DeleteTag("r", "never-existed");
  }));
  auto a = db_->GetTag("r", "a");
  ASSERT_OK(a);
  EXPECT_FALSE(a->has_value());
  auto tags = Tags("r");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].tag, "b");
  // Put then delete in one batch: deleted.
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutTag(MakeTag("r", "c", Sha256Of("3")));
    b.DeleteTag("r", "c");
  }));
  auto c = db_->GetTag("r", "c");
  ASSERT_OK(c);
  EXPECT_FALSE(c->has_value());
}

TEST_P(DirectoryDbConformance, ListTagsOrderFilterAndStop) {
  ASSERT_OK(Put([&](WriteBatch& b) {
    // Added out of order; "a/b" sorts after "a" as a repository but its tags must not show up
    // under "a", and "a" tags come before "a/b" ones although '/' < 'z'.
    b.PutTag(MakeTag("b", "1", Sha256Of("b1")));
    b.PutTag(MakeTag("a/b", "1", Sha256Of("ab1")));
    b.PutTag(MakeTag("a", "z", Sha256Of("az")));
    b.PutTag(MakeTag("a", "1", Sha256Of("a1")));
    b.PutTag(MakeTag("a", "10", Sha256Of("a10")));
    b.PutTag(MakeTag("ab", "1", Sha256Of("ab")));
  }));
  std::vector<std::string> all;
  for (const auto& t : Tags("")) all.push_back(t.repository + ":" + t.tag);
  EXPECT_EQ(all, (std::vector<std::string>{"a:1", "a:10", "a:z", "a/b:1", "ab:1", "b:1"}));
  std::vector<std::string> a;
  for (const auto& t : Tags("a")) a.push_back(t.tag);
  EXPECT_EQ(a, (std::vector<std::string>{"1", "10", "z"}));
  auto first2 = Tags("", 2);
  ASSERT_EQ(first2.size(), 2u);
  EXPECT_EQ(first2[1].tag, "10");
  EXPECT_EQ(first2[1].digest, Sha256Of("a10"));
  EXPECT_TRUE(Tags("nope").empty());
  EXPECT_EQ(Tags("a/b").size(), 1u);
}

TEST_P(DirectoryDbConformance, InvalidNamesAreRejected) {
  std::string nul("a\0b", 3);
  for (auto [repo, tag] :
       {std::pair<std::string, std::string>{nul, "t"}, {"r", nul}, {"", "t"}, {"r", ""}}) {
    WriteBatch b;
    b.PutTag(MakeTag(repo, tag, Sha256Of("x")));
    EXPECT_EQ(db_->Commit(b).code(), Code::kInvalidArgument);
    WriteBatch d;
    d.DeleteTag(repo, tag);
    EXPECT_EQ(db_->Commit(d).code(), Code::kInvalidArgument);
    EXPECT_EQ(db_->GetTag(repo, tag).status().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(db_->ListTags(nul, [](const TagRecord&) { return true; }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(db_->AddTrace(nul, {"p"}).code(), Code::kInvalidArgument);
  EXPECT_EQ(db_->AddTrace("r", {"ok", nul}).code(), Code::kInvalidArgument);
  EXPECT_EQ(db_->AddTrace("", {"p"}).code(), Code::kInvalidArgument);
  EXPECT_EQ(db_->GetRanks("r", {nul}).status().code(), Code::kInvalidArgument);
  // The rejected trace left nothing behind.
  auto ranks = db_->GetRanks("r", {"ok"});
  ASSERT_OK(ranks);
  EXPECT_TRUE(ranks->empty());
}

TEST_P(DirectoryDbConformance, BatchIsAllOrNothing) {
  LayerRecord l = MakeLayer("a");
  WriteBatch b;
  b.PutLayer(l);
  b.PutTag(MakeTag("r", "good", Sha256Of("x")));
  b.PutTag(MakeTag("r", std::string("bad\0", 4), Sha256Of("x")));
  EXPECT_EQ(db_->Commit(b).code(), Code::kInvalidArgument);
  auto g = db_->GetLayer(l.digest);
  ASSERT_OK(g);
  EXPECT_FALSE(g->has_value());
  EXPECT_TRUE(Tags("").empty());

  WriteBatch ok;
  ok.PutLayer(l);
  ok.PutTag(MakeTag("r", "good", Sha256Of("x")));
  EXPECT_FALSE(ok.empty());
  ASSERT_OK(db_->Commit(ok));
  g = db_->GetLayer(l.digest);
  ASSERT_OK(g);
  EXPECT_TRUE(g->has_value());
  EXPECT_EQ(Tags("").size(), 1u);
  WriteBatch empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_OK(db_->Commit(empty));
}

TEST_P(DirectoryDbConformance, QueueOrderAndDeleteInBatch) {
  auto s1 = db_->Enqueue({"e1", "e2"});
  ASSERT_OK(s1);
  auto s2 = db_->Enqueue({"e3"});
  ASSERT_OK(s2);
  ASSERT_EQ(s1->size(), 2u);
  ASSERT_EQ(s2->size(), 1u);
  EXPECT_LT((*s1)[0], (*s1)[1]);
  EXPECT_LT((*s1)[1], (*s2)[0]);
  auto empty = db_->Enqueue({});
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());

  auto ev = Events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0], (QueuedEvent{(*s1)[0], "e1"}));
  EXPECT_EQ(ev[1], (QueuedEvent{(*s1)[1], "e2"}));
  EXPECT_EQ(ev[2], (QueuedEvent{(*s2)[0], "e3"}));
  EXPECT_EQ(Events(1).size(), 1u);

  // Acknowledge e2 together with its effect.
  LayerRecord l = MakeLayer("from-e2");
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutLayer(l);
    b.DeleteEvent((*s1)[1]);
    b.DeleteEvent(999999);  // absent: no error
  }));
  ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].body, "e1");
  EXPECT_EQ(ev[1].body, "e3");
  auto g = db_->GetLayer(l.digest);
  ASSERT_OK(g);
  EXPECT_TRUE(g->has_value());
}

TEST_P(DirectoryDbConformance, QueueSeqContinuesAfterReopen) {
  auto s1 = db_->Enqueue({"a", "b"});
  ASSERT_OK(s1);
  Reopen();
  auto s2 = db_->Enqueue({"c"});
  ASSERT_OK(s2);
  EXPECT_GT((*s2)[0], (*s1)[1]);
  // Even when the queue was drained before the restart, numbers are never reused.
  ASSERT_OK(Put([&](WriteBatch& b) {
    for (const auto& e : Events()) b.DeleteEvent(e.seq);
  }));
  EXPECT_TRUE(Events().empty());
  Reopen();
  auto s3 = db_->Enqueue({"d"});
  ASSERT_OK(s3);
  EXPECT_GT((*s3)[0], (*s2)[0]);
  auto ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0], (QueuedEvent{(*s3)[0], "d"}));
}

TEST_P(DirectoryDbConformance, RanksAccumulate) {
  ASSERT_OK(db_->AddTrace("r", {"bin/sh", "etc/passwd", "lib/libc.so"}));
  ASSERT_OK(db_->AddTrace("r", {"bin/sh", "etc/passwd", "lib/libc.so"}));
  ASSERT_OK(db_->AddTrace("r", {"lib/libc.so", "bin/sh"}));
  ASSERT_OK(db_->AddTrace("other", {"x", "bin/sh"}));
  ASSERT_OK(db_->AddTrace("r", {}));
  auto ranks = db_->GetRanks("r", {"lib/libc.so", "absent", "bin/sh", "etc/passwd"});
  ASSERT_OK(ranks);
  std::vector<std::pair<std::string, RankStat>> want = {
      {"lib/libc.so", {2 + 2 + 0, 3}}, {"bin/sh", {0 + 0 + 1, 3}}, {"etc/passwd", {1 + 1, 2}}};
  EXPECT_EQ(*ranks, want);
  auto other = db_->GetRanks("other", {"bin/sh", "etc/passwd"});
  ASSERT_OK(other);
  EXPECT_EQ(*other, (std::vector<std::pair<std::string, RankStat>>{{"bin/sh", {1, 1}}}));
  // A path twice in one trace counts twice.
  ASSERT_OK(db_->AddTrace("dup", {"a", "b", "a"}));
  auto dup = db_->GetRanks("dup", {"a"});
  ASSERT_OK(dup);
  EXPECT_EQ(*dup, (std::vector<std::pair<std::string, RankStat>>{{"a", {0 + 2, 2}}}));
}

TEST_P(DirectoryDbConformance, ConcurrentTracesAreNotLost) {
  constexpr int kThreads = 4, kTraces = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTraces; ++i) {
        if (!db_->AddTrace("r", {"first", "p" + std::to_string(t)}).ok()) ++failures;
        if (!db_->Enqueue({"t" + std::to_string(t)}).ok()) ++failures;
        auto l = db_->GetLayer(Sha256Of("x"));
        if (!l.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto r = db_->GetRanks("r", {"first", "p0"});
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].second, (RankStat{0, kThreads * kTraces}));
  EXPECT_EQ((*r)[1].second, (RankStat{kTraces, kTraces}));
  auto ev = Events();
  ASSERT_EQ(ev.size(), static_cast<size_t>(kThreads * kTraces));
  std::set<uint64_t> seqs;
  for (size_t i = 0; i < ev.size(); ++i) {
    seqs.insert(ev[i].seq);
    if (i) {
      EXPECT_LT(ev[i - 1].seq, ev[i].seq);
    }
  }
  EXPECT_EQ(seqs.size(), ev.size());
}

TEST_P(DirectoryDbConformance, Stats) {
  auto empty = db_->Stats();
  ASSERT_OK(empty);
  EXPECT_EQ(empty->layers + empty->images + empty->tags + empty->queued_events, 0u);
  LayerRecord a = MakeLayer("a"), b = MakeLayer("b"), c = MakeLayer("c", false);
  ImageRecord i1 = MakeImage("1", {a.digest, b.digest}), i2 = MakeImage("2", {a.digest, c.digest});
  i2.seekable = false;
  i2.merged.clear();
  ASSERT_OK(Put([&](WriteBatch& w) {
    w.PutLayer(a);
    w.PutLayer(b);
    w.PutLayer(c);
    w.PutLayer(a);  // shared layer stored once
    w.PutImage(i1);
    w.PutImage(i2);
    w.PutIndex(MakeIndex("x", {i1.digest, i2.digest}));
    w.PutTag(MakeTag("r", "1", i1.digest));
    w.PutTag(MakeTag("r", "2", i2.digest));
    w.PutTag(MakeTag("s", "x", Sha256Of("index:x"), true));
  }));
  ASSERT_OK(db_->AddTrace("r", {"a", "b"}));
  ASSERT_OK(db_->AddTrace("s", {"a"}));
  ASSERT_OK(db_->Enqueue({"e"}));
  auto st = db_->Stats();
  ASSERT_OK(st);
  EXPECT_EQ(st->layers, 3u);
  EXPECT_EQ(st->seekable_layers, 2u);
  EXPECT_EQ(st->images, 2u);
  EXPECT_EQ(st->indexes, 1u);
  EXPECT_EQ(st->tags, 3u);
  EXPECT_EQ(st->rank_paths, 3u);
  EXPECT_EQ(st->queued_events, 1u);
  EXPECT_EQ(st->toc_bytes, a.toc.size() + b.toc.size());
  EXPECT_EQ(st->merged_bytes, i1.merged.size());
  if (GetParam().reports_disk_bytes) {
    EXPECT_GT(st->disk_bytes, 0u);
  }
}

TEST_P(DirectoryDbConformance, ReopenKeepsEverything) {
  LayerRecord l = MakeLayer("a");
  ImageRecord i = MakeImage("i", {l.digest});
  IndexRecord x = MakeIndex("x", {i.digest});
  TagRecord t = MakeTag("r", "t", x.digest, true);
  ASSERT_OK(Put([&](WriteBatch& b) {
    b.PutLayer(l);
    b.PutImage(i);
    b.PutIndex(x);
    b.PutTag(t);
  }));
  ASSERT_OK(db_->AddTrace("r", {"p"}));
  auto seqs = db_->Enqueue({"ev"});
  ASSERT_OK(seqs);
  Reopen();
  auto gl = db_->GetLayer(l.digest);
  ASSERT_OK(gl);
  EXPECT_EQ(*gl, l);
  auto gi = db_->GetImage(i.digest);
  ASSERT_OK(gi);
  EXPECT_EQ(*gi, i);
  auto gx = db_->GetIndex(x.digest);
  ASSERT_OK(gx);
  EXPECT_EQ(*gx, x);
  auto gt = db_->GetTag("r", "t");
  ASSERT_OK(gt);
  EXPECT_EQ(*gt, t);
  auto gr = db_->GetRanks("r", {"p"});
  ASSERT_OK(gr);
  EXPECT_EQ(gr->size(), 1u);
  auto ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0], (QueuedEvent{(*seqs)[0], "ev"}));
}

INSTANTIATE_TEST_SUITE_P(All, DirectoryDbConformance, ::testing::ValuesIn(Factories()),
                         [](const ::testing::TestParamInfo<DbFactory>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// LevelDB-specific behaviour.

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// Raw LevelDB access to build foreign, newer or damaged databases.
std::unique_ptr<leveldb::DB> RawOpen(const std::string& path) {
  leveldb::Options o;
  o.create_if_missing = true;
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(o, path, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::unique_ptr<leveldb::DB>(db);
}

void RawPut(const std::string& path, const std::string& key, const std::string& value) {
  auto db = RawOpen(path);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Put(leveldb::WriteOptions(), key, value).ok());
}

std::string RawGet(const std::string& path, const std::string& key) {
  auto db = RawOpen(path);
  std::string v;
  EXPECT_TRUE(db && db->Get(leveldb::ReadOptions(), key, &v).ok()) << encoding::DescribeKey(key);
  return v;
}

class LevelDbTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.Join("db"); }
  std::unique_ptr<DirectoryDb> MustOpen() {
    auto r = OpenLevelDb(Path());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(LevelDbTest, MissingDirectoryWithoutCreateIsNotFound) {
  LevelDbOptions o;
  o.create_if_missing = false;
  auto r = OpenLevelDb(Path(), o);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(Path()));  // nothing was created
  // An existing but empty directory is not a database either.
  std::filesystem::create_directory(Path());
  r = OpenLevelDb(Path(), o);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  // Once created it opens without create_if_missing.
  ASSERT_TRUE(MustOpen());
  EXPECT_OK(OpenLevelDb(Path(), o));
}

TEST_F(LevelDbTest, SecondOpenInThisProcessIsLocked) {
  auto db = MustOpen();
  ASSERT_TRUE(db);
  auto second = OpenLevelDb(Path());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition) << second.status().ToString();
  EXPECT_NE(second.status().message().find("locked by another process"), std::string::npos);
  db.reset();
  EXPECT_OK(OpenLevelDb(Path()));  // released on close
}

TEST_F(LevelDbTest, OpenFromAnotherProcessIsLocked) {
  auto db = MustOpen();
  ASSERT_TRUE(db);
  testing::RunOptions child;
  child.env = {{"SL_DIRDB_CHILD", "open"}, {"SL_DIRDB_PATH", Path()}};
  auto r = testing::Run({SelfExe(), "--gtest_filter=DirDbChild.DISABLED_Main", "--gtest_also_run_disabled_tests"}, child);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("locked by another process"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Resource temporarily unavailable"), std::string::npos) << r.out;
  db.reset();
  r = testing::Run({SelfExe(), "--gtest_filter=DirDbChild.DISABLED_Main", "--gtest_also_run_disabled_tests"}, child);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(LevelDbTest, NewerSchemaIsNotSupported) {
  ASSERT_TRUE(MustOpen());
  RawPut(Path(), encoding::SchemaKey(), encoding::EncodeSchema(kSchemaVersion + 1));
  auto r = OpenLevelDb(Path());
  EXPECT_EQ(r.status().code(), Code::kNotSupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("schema version 2"), std::string::npos)
      << r.status().ToString();
}

TEST_F(LevelDbTest, SchemaVersionZeroOrDamagedIsCorruption) {
  ASSERT_TRUE(MustOpen());
  RawPut(Path(), encoding::SchemaKey(), encoding::EncodeSchema(0));
  EXPECT_EQ(OpenLevelDb(Path()).status().code(), Code::kCorruption);
  RawPut(Path(), encoding::SchemaKey(), "garbage");
  EXPECT_EQ(OpenLevelDb(Path()).status().code(), Code::kCorruption);
}

TEST_F(LevelDbTest, ForeignLevelDbIsCorruption) {
  RawPut(Path(), "some-other-app", "value");
  auto r = OpenLevelDb(Path());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("not a starlight directory DB"), std::string::npos);
  // It was not modified (no schema key written).
  auto raw = RawOpen(Path());
  std::string v;
  EXPECT_TRUE(raw->Get(leveldb::ReadOptions(), encoding::SchemaKey(), &v).IsNotFound());
}

TEST_F(LevelDbTest, EmptyLevelDbIsInitialised) {
  RawOpen(Path());  // created, no keys
  ASSERT_TRUE(MustOpen());
  auto v = encoding::DecodeSchema(encoding::SchemaKey(), RawGet(Path(), encoding::SchemaKey()));
  ASSERT_OK(v);
  EXPECT_EQ(*v, kSchemaVersion);
}

TEST_F(LevelDbTest, DamagedValuesAreCorruption) {
  LayerRecord l = MakeLayer("a");
  ImageRecord img = MakeImage("i", {l.digest});
  IndexRecord idx = MakeIndex("x", {img.digest});
  {
    auto db = MustOpen();
    ASSERT_TRUE(db);
    WriteBatch b;
    b.PutLayer(l);
    b.PutImage(img);
    b.PutIndex(idx);
    b.PutTag(MakeTag("r", "t", img.digest));
    ASSERT_OK(db->Commit(b));
    ASSERT_OK(db->AddTrace("r", {"p"}));
    ASSERT_OK(db->Enqueue({"e"}));
  }
  auto flip = [&](const std::string& key, size_t at) {
    std::string v = RawGet(Path(), key);
    ASSERT_GT(v.size(), at);
    v[at] = static_cast<char>(v[at] ^ 0x20);
    RawPut(Path(), key, v);
  };
  flip(encoding::LayerKey(l.digest), 5);
  flip(encoding::ImageKey(img.digest), 40);
  flip(encoding::IndexKey(idx.digest), 3);
  RawPut(Path(), encoding::TagKey("r", "t"),
         RawGet(Path(), encoding::TagKey("r", "t")).substr(0, 10));
  flip(encoding::RankKey("r", "p"), 1);
  flip(encoding::EventKey(1), 2);

  auto db = MustOpen();
  ASSERT_TRUE(db);
  auto gl = db->GetLayer(l.digest);
  EXPECT_EQ(gl.status().code(), Code::kCorruption) << gl.status().ToString();
  EXPECT_NE(gl.status().message().find("layer " + l.digest.ToString()), std::string::npos)
      << gl.status().ToString();
  EXPECT_EQ(db->GetImage(img.digest).status().code(), Code::kCorruption);
  EXPECT_EQ(db->GetIndex(idx.digest).status().code(), Code::kCorruption);
  EXPECT_EQ(db->GetTag("r", "t").status().code(), Code::kCorruption);
  EXPECT_EQ(db->ListTags("", [](const TagRecord&) { return true; }).code(), Code::kCorruption);
  EXPECT_EQ(db->GetRanks("r", {"p"}).status().code(), Code::kCorruption);
  EXPECT_EQ(db->AddTrace("r", {"p"}).code(), Code::kCorruption);
  EXPECT_EQ(db->ListEvents([](const QueuedEvent&) { return true; }).code(), Code::kCorruption);
  EXPECT_EQ(db->Stats().status().code(), Code::kCorruption);
  // Replacing a damaged record repairs it.
  WriteBatch b;
  b.PutLayer(l);
  ASSERT_OK(db->Commit(b));
  auto again = db->GetLayer(l.digest);
  ASSERT_OK(again);
  EXPECT_EQ(*again, l);
}

TEST_F(LevelDbTest, DamagedNewestEventStillOpensButMalformedEventKeyDoesNot) {
  {
    auto db = MustOpen();
    ASSERT_TRUE(db);
    ASSERT_OK(db->Enqueue({"a", "b"}));
  }
  RawPut(Path(), encoding::EventKey(2), "xx");
  {
    auto db = MustOpen();  // the sequence number comes from the key
    ASSERT_TRUE(db);
    EXPECT_EQ(db->ListEvents([](const QueuedEvent&) { return true; }).code(), Code::kCorruption);
    auto seq = db->Enqueue({"c"});
    ASSERT_OK(seq);
    EXPECT_EQ((*seq)[0], 3u);
  }
  RawPut(Path(), std::string(1, encoding::kEventPrefix) + "short", "xx");
  EXPECT_EQ(OpenLevelDb(Path()).status().code(), Code::kCorruption);
}

// --- crash safety ---

constexpr int kCrashCommitsPerRound = 100000;  // upper bound; the parent kills much sooner
const std::string kCrashRepo = "crash/repo";

std::vector<LayerRecord> CrashLayers(int i) {
  auto a = MakeLayer("shared-base"), b = MakeLayer("l" + std::to_string(i)),
       c = MakeLayer("l" + std::to_string(i) + "-top", false);
  b.toc.assign(100000 + i % 97, static_cast<char>(i));  // bulk: memtable flushes mid-run
  return {a, b, c};
}
ImageRecord CrashImage(int i) {
  std::vector<Digest> ds;
  for (const auto& l : CrashLayers(i)) ds.push_back(l.digest);
  return MakeImage("crash-" + std::to_string(i), ds);
}
std::string CrashTag(int i) { return "t" + std::to_string(i); }

// Child: enqueue an event per image, then commit the image, its layers, its tag, "latest" and
// the event's deletion in one batch, as the registry hook does. Writes one byte to the ready fd
// after the first commit.
int CrashChild(const std::string& path, int start, int ready_fd) {
  auto r = OpenLevelDb(path);
  if (!r.ok()) {
    fprintf(stderr, "child: %s\n", r.status().ToString().c_str());
    return 2;
  }
  auto db = std::move(r).value();
  for (int i = start; i < start + kCrashCommitsPerRound; ++i) {
    auto seq = db->Enqueue({"img-" + std::to_string(i)});
    if (!seq.ok()) return 3;
    WriteBatch b;
    for (const auto& l : CrashLayers(i)) b.PutLayer(l);
    ImageRecord img = CrashImage(i);
    b.PutImage(img);
    b.PutTag(MakeTag(kCrashRepo, CrashTag(i), img.digest));
    b.PutTag(MakeTag(kCrashRepo, "latest", img.digest));
    b.DeleteEvent((*seq)[0]);
    if (!db->Commit(b).ok()) return 4;
    if (i == start) {
      char c = 1;
      if (::write(ready_fd, &c, 1) != 1) return 5;
    }
  }
  return 0;
}

TEST(DirDbChild, DISABLED_Main) {  // run only as a child (see SL_DIRDB_CHILD)
  const char* mode = std::getenv("SL_DIRDB_CHILD");
  if (!mode) GTEST_SKIP() << "only runs as a child process of dirdb_test";
  std::string path = std::getenv("SL_DIRDB_PATH");
  if (std::string(mode) == "open") {
    auto r = OpenLevelDb(path);
    printf("%s\n", r.ok() ? "ok" : r.status().ToString().c_str());
    fflush(stdout);
    ::_exit(r.ok() ? 0
            : static_cast<int>(r.status().code()) == static_cast<int>(Code::kFailedPrecondition)
                ? 3
                : 4);
  }
  if (std::string(mode) == "crash") {
    ::_exit(CrashChild(path, std::atoi(std::getenv("SL_DIRDB_START")),
                       std::atoi(std::getenv("SL_DIRDB_READY_FD"))));
  }
  ::_exit(100);
}

// Checks the invariants after a crash; returns how many images of this round are visible.
int CheckAfterCrash(DirectoryDb* db, int start, int* ghost_events) {
  // Every tag points at a complete image.
  int tags = 0;
  Status s = db->ListTags(kCrashRepo, [&](const TagRecord& t) {
    ++tags;
    auto img = db->GetImage(t.digest);
    EXPECT_TRUE(img.ok() && img->has_value()) << "tag " << t.tag << " points at a missing image";
    if (img.ok() && img->has_value()) {
      for (const auto& d : (*img)->layers) {
        auto l = db->GetLayer(d);
        EXPECT_TRUE(l.ok() && l->has_value())
            << "image of tag " << t.tag << " lacks layer " << d.ToString();
      }
    }
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Images of this round are a prefix start..k-1: each complete, tagged, its event gone.
  int k = start;
  while (true) {
    auto img = db->GetImage(CrashImage(k).digest);
    EXPECT_TRUE(img.ok()) << img.status().ToString();
    if (!img.ok() || !img->has_value()) break;
    EXPECT_EQ(**img, CrashImage(k));
    for (const auto& l : CrashLayers(k)) {
      auto g = db->GetLayer(l.digest);
      EXPECT_TRUE(g.ok() && g->has_value() && **g == l) << "image " << k << " lacks a layer";
    }
    auto t = db->GetTag(kCrashRepo, CrashTag(k));
    EXPECT_TRUE(t.ok() && t->has_value()) << "image " << k << " has no tag";
    ++k;
  }
  for (int j = k; j < k + 5; ++j) {
    auto img = db->GetImage(CrashImage(j).digest);
    EXPECT_TRUE(img.ok() && !img->has_value()) << "image " << j << " visible after a gap at " << k;
    auto t = db->GetTag(kCrashRepo, CrashTag(j));
    EXPECT_TRUE(t.ok() && !t->has_value()) << "tag of image " << j << " without it";
  }
  if (k > start) {
    auto latest = db->GetTag(kCrashRepo, "latest");
    EXPECT_TRUE(latest.ok() && latest->has_value() &&
                (*latest)->digest == CrashImage(k - 1).digest);
  }
  // A queued event is exactly an image not committed yet (at most the one being written).
  s = db->ListEvents([&](const QueuedEvent& e) {
    int i = std::atoi(e.body.substr(4).c_str());
    EXPECT_GE(i, k) << "event of committed image " << i << " still queued";
    ++*ghost_events;
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(tags, k + (k > 0 ? 1 : 0));  // t0..t(k-1) and latest
  return k - start;
}

TEST_F(LevelDbTest, CrashAtRandomMomentsNeverLeavesHalfAnImage) {
  std::mt19937 rng(20240611);
  int committed_before = 0;  // images visible from earlier rounds
  uint64_t last_seq = 0;
  for (int round = 0; round < 8; ++round) {
    const int start = committed_before;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::string exe = SelfExe();
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    env_strings.push_back("SL_DIRDB_CHILD=crash");
    env_strings.push_back("SL_DIRDB_PATH=" + Path());
    env_strings.push_back("SL_DIRDB_START=" + std::to_string(start));
    env_strings.push_back("SL_DIRDB_READY_FD=" + std::to_string(fds[1]));
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=DirDbChild.DISABLED_Main";
    std::string also = "--gtest_also_run_disabled_tests";
    char* argv[] = {exe.data(), filter.data(), also.data(), nullptr};
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, 1);
      ::execve(argv[0], argv, envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    char c = 0;
    ssize_t n = ::read(fds[0], &c, 1);
    ::close(fds[0]);
    ASSERT_EQ(n, 1) << "child died before its first commit";
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 150000)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited early: " << status;

    auto db = MustOpen();
    ASSERT_TRUE(db);
    int ghosts = 0;
    int visible = CheckAfterCrash(db.get(), start, &ghosts);
    EXPECT_GE(visible, 1);
    EXPECT_LE(ghosts, 1);
    // Sequence numbers still grow after the crash.
    auto seq = db->Enqueue({"probe"});
    ASSERT_OK(seq);
    EXPECT_GT((*seq)[0], last_seq);
    last_seq = (*seq)[0];
    WriteBatch ack;
    ack.DeleteEvent(last_seq);
    ASSERT_OK(db->ListEvents([&](const QueuedEvent& e) {
      ack.DeleteEvent(e.seq);  // drop the uncommitted image's event before the next round
      return true;
    }));
    ASSERT_OK(db->Commit(ack));
    committed_before = start + visible;
    std::fprintf(stderr, "round %d: %d images committed before SIGKILL\n", round, visible);
  }
}

}  // namespace
}  // namespace starlight::dirdb
