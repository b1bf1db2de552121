// Checks core/dirdb's encodings against format-spec/vectors/directory-db (spec section 9):
// every example record encodes to exactly the vector's key and value bytes and decodes back,
// and every damaged vector decodes to Corruption with the documented reason.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "tests/format-spec/vector_files.h"
#include "core/digest/digest.h"
#include "core/dirdb/dirdb.h"
#include "core/dirdb/encoding.h"
#include "core/io/writer.h"

namespace starlight::dirdb {
namespace {

using testing::Hex;
using testing::Unhex;

namespace enc = encoding;
using digest::Sha256Of;

std::string ReadVector(const std::string& name) { return testing::ReadVectorFile("directory-db", name); }

struct Vector {
  std::string family, key, value, message;
};

// records.txt: name key value; damaged.txt: name family key value message...
std::map<std::string, Vector> Load(const std::string& file, bool damaged) {
  std::map<std::string, Vector> out;
  std::istringstream in(ReadVector(file));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream l(line);
    std::string name, key, value;
    Vector v;
    l >> name;
    if (damaged) l >> v.family;
    l >> key >> value;
    std::getline(l >> std::ws, v.message);
    v.key = Unhex(key);
    v.value = Unhex(value);
    out[name] = v;
  }
  return out;
}

// The example records of make-vectors.py.
LayerRecord SeekableLayer() {
  LayerRecord r;
  r.digest = Sha256Of("layer-1");
  r.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  r.size = 1234567;
  r.seekable = true;
  r.diff_id = Sha256Of("diff-1");
  r.toc = std::string("toc-bytes\x00\x01", 11);
  r.fetched_bytes = 70000;
  r.ingested_at = 1700000000;
  return r;
}

LayerRecord PlainLayer() {
  LayerRecord r;
  r.digest = Sha256Of("layer-2");
  r.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  r.size = 300;
  r.reason = "no footer";
  r.fetched_bytes = 110;
  r.ingested_at = -1;
  return r;
}

ImageRecord Image() {
  ImageRecord r;
  r.digest = Sha256Of("image-1");
  r.media_type = "application/vnd.oci.image.manifest.v1+json";
  r.manifest = R"({"schemaVersion":2})";
  r.config_digest = Sha256Of("config-1");
  r.config = R"({"architecture":"amd64","os":"linux"})";
  r.platform = "linux/amd64";
  r.layers = {Sha256Of("layer-1"), Sha256Of("layer-2")};
  r.seekable = true;
  r.merged = "merged-tree";
  r.ingested_at = 1700000001;
  return r;
}

IndexRecord Index() {
  IndexRecord r;
  r.digest = Sha256Of("index-1");
  r.media_type = "application/vnd.oci.image.index.v1+json";
  r.manifest = R"({"manifests":[]})";
  r.manifests = {{Sha256Of("image-1"), "linux/amd64"}, {Sha256Of("image-2"), ""}};
  r.ingested_at = 1700000002;
  return r;
}

TagRecord Tag() {
  return TagRecord{"library/alpine", "3.19", Sha256Of("index-1"), true, 1700000003};
}

class DirectoryDbVectors : public ::testing::Test {
 protected:
  void SetUp() override { records_ = Load("records.txt", false); }

  const Vector& At(const std::string& name) {
    static const Vector kEmpty;
    auto it = records_.find(name);
    EXPECT_NE(it, records_.end()) << name << " missing from records.txt";
    return it == records_.end() ? kEmpty : it->second;
  }

  void ExpectBytes(const std::string& name, const enc::KeyValue& kv) {
    const Vector& v = At(name);
    EXPECT_EQ(Hex(kv.key), Hex(v.key)) << name << " key";
    EXPECT_EQ(Hex(kv.value), Hex(v.value)) << name << " value";
  }

  std::map<std::string, Vector> records_;
};

TEST_F(DirectoryDbVectors, FileListsEveryRecordType) { EXPECT_EQ(records_.size(), 9u); }

TEST_F(DirectoryDbVectors, Schema) {
  EXPECT_EQ(Hex(enc::SchemaKey()), Hex(At("schema").key));
  EXPECT_EQ(Hex(enc::EncodeSchema(kSchemaVersion)), Hex(At("schema").value));
  auto v = enc::DecodeSchema(At("schema").key, At("schema").value);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 1u);
}

TEST_F(DirectoryDbVectors, LastSeq) {
  EXPECT_EQ(Hex(enc::LastSeqKey()), Hex(At("last_seq").key));
  EXPECT_EQ(Hex(enc::EncodeLastSeq(258)), Hex(At("last_seq").value));
  auto v = enc::DecodeLastSeq(At("last_seq").key, At("last_seq").value);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 258u);
}

TEST_F(DirectoryDbVectors, Layers) {
  for (const auto& [name, rec] :
       {std::pair{"layer_seekable", SeekableLayer()}, std::pair{"layer_plain", PlainLayer()}}) {
    ExpectBytes(name, enc::EncodeLayer(rec));
    auto back = enc::DecodeLayer(At(name).key, At(name).value);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, rec) << name;
  }
}

TEST_F(DirectoryDbVectors, Image) {
  ExpectBytes("image", enc::EncodeImage(Image()));
  auto back = enc::DecodeImage(At("image").key, At("image").value);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Image());
}

TEST_F(DirectoryDbVectors, Index) {
  ExpectBytes("index", enc::EncodeIndex(Index()));
  auto back = enc::DecodeIndex(At("index").key, At("index").value);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Index());
}

TEST_F(DirectoryDbVectors, Tag) {
  ExpectBytes("tag", enc::EncodeTag(Tag()));
  auto back = enc::DecodeTag(At("tag").key, At("tag").value);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Tag());
}

TEST_F(DirectoryDbVectors, Rank) {
  RankStat s{300, 7};
  ExpectBytes("rank", enc::EncodeRank("library/alpine", "bin/busybox", s));
  std::string repo, path;
  auto back = enc::DecodeRank(At("rank").key, At("rank").value, &repo, &path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(repo, "library/alpine");
  EXPECT_EQ(path, "bin/busybox");
}

TEST_F(DirectoryDbVectors, Event) {
  QueuedEvent e{258, R"({"action":"push"})"};
  ExpectBytes("event", enc::EncodeEvent(e));
  EXPECT_EQ(Hex(At("event").key), "510000000000000102");  // big-endian seq
  auto back = enc::DecodeEvent(At("event").key, At("event").value);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, e);
}

TEST_F(DirectoryDbVectors, KeyOrderIsSeqAndRepositoryTagOrder) {
  EXPECT_LT(enc::EventKey(255), enc::EventKey(256));
  EXPECT_LT(enc::EventKey(1), enc::EventKey(uint64_t{1} << 56));
  // (repository, tag) order although "a/b" > "a" and 0x00 separates.
  EXPECT_LT(enc::TagKey("a", "zzz"), enc::TagKey("a/b", "a"));
  EXPECT_LT(enc::TagKey("a", "b"), enc::TagKey("a", "b0"));
}

Status DecodeAs(const Vector& v) {
  const std::string& f = v.family;
  if (f == "schema") return enc::DecodeSchema(v.key, v.value).status();
  if (f == "last_seq") return enc::DecodeLastSeq(v.key, v.value).status();
  if (f == "layer") return enc::DecodeLayer(v.key, v.value).status();
  if (f == "image") return enc::DecodeImage(v.key, v.value).status();
  if (f == "index") return enc::DecodeIndex(v.key, v.value).status();
  if (f == "tag") return enc::DecodeTag(v.key, v.value).status();
  if (f == "rank") return enc::DecodeRank(v.key, v.value).status();
  if (f == "event") return enc::DecodeEvent(v.key, v.value).status();
  return Status::Internal("unknown family " + f);
}

TEST(DirectoryDbDamagedVectors, EachIsCorruptionWithItsReason) {
  auto damaged = Load("damaged.txt", true);
  EXPECT_GE(damaged.size(), 16u);
  for (const auto& [name, v] : damaged) {
    Status s = DecodeAs(v);
    EXPECT_EQ(s.code(), Code::kCorruption) << name << ": " << s.ToString();
    EXPECT_NE(s.message().find(v.message), std::string::npos)
        << name << ": expected \"" << v.message << "\" in " << s.ToString();
  }
}

// Every strict prefix and every single-bit flip of every good value is rejected (never a crash).
TEST_F(DirectoryDbVectors, EveryTruncationAndBitFlipIsCorruption) {
  for (const auto& [name, v] : records_) {
    Vector d = v;
    d.family = name.starts_with("layer") ? "layer" : name;
    ASSERT_TRUE(DecodeAs(d).ok()) << name;
    for (size_t n = 0; n < v.value.size(); ++n) {
      d.value = v.value.substr(0, n);
      EXPECT_EQ(DecodeAs(d).code(), Code::kCorruption) << name << " truncated to " << n;
    }
    for (size_t i = 0; i < v.value.size() * 8; ++i) {
      d.value = v.value;
      d.value[i / 8] = static_cast<char>(d.value[i / 8] ^ (1 << (i % 8)));
      EXPECT_EQ(DecodeAs(d).code(), Code::kCorruption) << name << " bit " << i;
    }
  }
}

}  // namespace
}  // namespace starlight::dirdb
