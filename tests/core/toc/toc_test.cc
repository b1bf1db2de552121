#include "core/toc/toc.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/coding/coding.h"

namespace starlight::toc {
namespace {

using digest::Sha256Of;

Entry MakeEntry(std::string path, tar::EntryType type, char flag) {
  Entry e;
  e.meta.path = std::move(path);
  e.meta.type = type;
  e.meta.typeflag = flag;
  e.meta.mode = 0644;
  e.meta.uid = 1000;
  e.meta.gid = 1000;
  e.meta.uname = "user";
  e.meta.gname = "group";
  e.meta.mtime_sec = 1700000000;
  return e;
}

// A ToC with every kind of entry; offsets consistent with a tar stream of tar_size bytes.
Toc RichToc() {
  Toc t;
  uint64_t pos = 0, blob = 0;
  auto place = [&](Entry& e, uint64_t header_blocks, uint64_t data_size) {
    e.meta.header_offset = pos;
    e.meta.data_offset = pos + 512 * header_blocks;
    e.meta.data_size = data_size;
    pos = e.meta.data_offset + (data_size + 511) / 512 * 512;
  };
  auto add_chunks = [&](Entry& e, uint64_t chunk) {
    uint64_t off = 0;
    blob += 100;  // a metadata member before the content
    while (off < e.meta.data_size) {
      Chunk c;
      c.size = std::min(chunk, e.meta.data_size - off);
      c.file_offset = off;
      c.compressed_offset = blob;
      c.compressed_size = c.size / 3 + 20;
      c.digest = Sha256Of(e.meta.path + std::to_string(off));
      blob += c.compressed_size;
      off += c.size;
      e.chunks.push_back(c);
    }
    e.digest = Sha256Of(e.meta.path);
    if (e.chunks.size() == 1) e.chunks[0].digest = e.digest;
  };

  Entry dir = MakeEntry("etc", tar::EntryType::kDirectory, '5');
  dir.meta.mode = 0755;
  place(dir, 1, 0);
  t.entries.push_back(dir);

  Entry f = MakeEntry("etc/passwd", tar::EntryType::kRegular, '0');
  f.meta.size = 1500;
  f.meta.mtime_nsec = 123456789;
  f.meta.xattrs = {{"user.a", "b"}, {"security.capability", std::string("\x01\0\xff", 3)}};
  place(f, 2, 1500);
  add_chunks(f, 4 << 20);
  t.entries.push_back(f);

  Entry big = MakeEntry(std::string("caf\xe9/big", 8), tar::EntryType::kRegular, '0');
  big.meta.size = 10'000'000;
  big.meta.uid = uint64_t{1} << 40;
  big.meta.mtime_sec = -5;
  place(big, 1, 10'000'000);
  add_chunks(big, 4 << 20);
  t.entries.push_back(big);

  Entry empty = MakeEntry("empty", tar::EntryType::kRegular, '0');
  place(empty, 1, 0);
  empty.digest = Sha256Of("");
  t.entries.push_back(empty);

  Entry sparse = MakeEntry("sparse", tar::EntryType::kRegular, 'S');
  sparse.meta.sparse = true;
  sparse.meta.sparse_map = {{0, 100}, {5000, 200}, {9000, 0}};
  sparse.meta.size = 9000;
  place(sparse, 2, 300);
  add_chunks(sparse, 4 << 20);
  t.entries.push_back(sparse);

  Entry sym = MakeEntry("etc/link", tar::EntryType::kSymlink, '2');
  sym.meta.linkname = "../usr/lib/os-release";
  place(sym, 1, 0);
  t.entries.push_back(sym);

  Entry hard = MakeEntry("etc/hard", tar::EntryType::kHardlink, '1');
  hard.meta.linkname = "etc/passwd";
  place(hard, 1, 0);
  t.entries.push_back(hard);

  Entry dev = MakeEntry("dev/sda", tar::EntryType::kBlockDevice, '4');
  dev.meta.devmajor = 8;
  dev.meta.devminor = 70000;
  place(dev, 1, 0);
  t.entries.push_back(dev);

  Entry other = MakeEntry("label", tar::EntryType::kOther, 'V');
  place(other, 1, 0);
  t.entries.push_back(other);

  t.tar_size = pos + 1024;
  t.diff_id = Sha256Of("the tar stream");
  return t;
}

std::string Reseal(std::string encoded) {
  encoded.resize(encoded.size() - 4);
  coding::PutFixed32(&encoded, static_cast<uint32_t>(crc32(
                                   0, reinterpret_cast<const Bytef*>(encoded.data()),
                                   static_cast<uInt>(encoded.size()))));
  return encoded;
}

TEST(TocTest, RoundTrip) {
  Toc t = RichToc();
  std::string enc = EncodeToc(t);
  auto d = DecodeToc(enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, t);
  EXPECT_EQ(EncodeToc(*d), enc);
  EXPECT_EQ(d->entries[2].chunks.size(), 3u);
  EXPECT_EQ(d->entries[2].chunks[2].file_offset, 8u << 20);

  Toc empty;
  auto e = DecodeToc(EncodeToc(empty));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(*e, empty);
}

TEST(TocTest, EqualityLooksAtEveryField) {
  Toc t = RichToc();
  Toc u = t;
  u.entries[1].meta.xattrs[1].second.back() ^= 1;
  EXPECT_NE(t, u);
  u = t;
  u.entries[2].chunks[1].compressed_size++;
  EXPECT_NE(t, u);
  u = t;
  u.entries[4].meta.sparse_map[1].length++;
  EXPECT_NE(t, u);
  u = t;
  u.entries[1].meta.mtime_nsec++;
  EXPECT_NE(t, u);
}

TEST(TocTest, RejectsHeaderDamage) {
  std::string enc = EncodeToc(RichToc());
  EXPECT_EQ(DecodeToc("").status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeToc("short").status().code(), Code::kCorruption);
  std::string magic = enc;
  magic[0] ^= 1;
  auto m = DecodeToc(Reseal(magic));
  EXPECT_EQ(m.status().code(), Code::kCorruption);
  EXPECT_NE(m.status().message().find("bad magic"), std::string::npos);
  std::string version = enc;
  version[4] = 2;
  auto v = DecodeToc(Reseal(version));
  EXPECT_EQ(v.status().code(), Code::kNotSupported) << v.status().ToString();
  std::string crc = enc;
  crc[crc.size() - 1] ^= 0x80;
  auto c = DecodeToc(crc);
  EXPECT_EQ(c.status().code(), Code::kCorruption);
  EXPECT_NE(c.status().message().find("checksum"), std::string::npos);
  auto trailing = DecodeToc(Reseal(enc.substr(0, enc.size() - 4) + "x" + "CRC!"));
  EXPECT_EQ(trailing.status().code(), Code::kCorruption);
}

TEST(TocTest, EveryPrefixFails) {
  std::string enc = EncodeToc(RichToc());
  for (size_t n = 0; n < enc.size(); ++n) {
    auto r = DecodeToc(std::string_view(enc).substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix " << n;
    // Also with a valid checksum over the prefix: the structure itself must be incomplete.
    if (n >= 12) {
      std::string body = enc.substr(0, n - 4) + "CRC!";
      auto s = DecodeToc(Reseal(body));
      EXPECT_FALSE(s.ok()) << "resealed prefix " << n;
    }
  }
}

TEST(TocTest, RejectsOffsetsOutsideTheStream) {
  Toc t = RichToc();
  Toc small = t;
  small.tar_size = t.entries[2].meta.data_offset + 100;  // 'big' ends beyond it
  auto r = DecodeToc(EncodeToc(small));
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("outside the tar stream"), std::string::npos)
      << r.status().message();

  Toc overlap = t;
  overlap.entries[3].meta.header_offset = overlap.entries[2].meta.data_offset;  // negative delta
  EXPECT_FALSE(DecodeToc(EncodeToc(overlap)).ok());

  Toc chunks = t;
  chunks.entries[2].chunks.pop_back();  // chunks no longer cover the content
  auto c = DecodeToc(EncodeToc(chunks));
  EXPECT_EQ(c.status().code(), Code::kCorruption);
  EXPECT_NE(c.status().message().find("do not cover"), std::string::npos) << c.status().message();

  Toc too_many = t;
  too_many.entries[1].chunks[0].size = 2000;  // more than the 1500 content bytes
  EXPECT_FALSE(DecodeToc(EncodeToc(too_many)).ok());

  Toc dir_chunks = t;
  dir_chunks.entries[0].chunks.push_back(Chunk{0, 10, 0, 0, {}});
  EXPECT_FALSE(DecodeToc(EncodeToc(dir_chunks)).ok());

  Toc bad_mode = t;
  bad_mode.entries[0].meta.mode = 010000;
  EXPECT_FALSE(DecodeToc(EncodeToc(bad_mode)).ok());
  Toc bad_nsec = t;
  bad_nsec.entries[0].meta.mtime_nsec = 1000000000;
  EXPECT_FALSE(DecodeToc(EncodeToc(bad_nsec)).ok());
  Toc bad_type = t;
  bad_type.entries[0].meta.type = static_cast<tar::EntryType>(8);
  EXPECT_FALSE(DecodeToc(EncodeToc(bad_type)).ok());
}

TEST(TocTest, HugeCountsAreRejectedWithoutAllocating) {
  std::string body;
  coding::PutFixed32(&body, kTocMagic);
  coding::PutFixed16(&body, kTocVersion);
  coding::PutFixed16(&body, 0);
  coding::PutVarint64(&body, 1000);
  body.append(32, 'd');
  coding::PutVarint64(&body, UINT64_MAX);  // entry count
  auto r = DecodeToc(Reseal(body + "CRC!"));
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(TocTest, RandomBitFlips) {
  const std::string enc = EncodeToc(RichToc());
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 4000; ++i) {
    std::string t = enc;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      size_t bit = rng() % (t.size() * 8);
      t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
    }
    if (t == enc) continue;
    // CRC-32 catches every flip of up to three bits.
    EXPECT_FALSE(DecodeToc(t).ok()) << "iteration " << i;
    // With a matching checksum the decoder must still validate everything: never crash, and
    // whatever it accepts must encode and decode to the same ToC.
    auto r = DecodeToc(Reseal(t));
    if (r.ok()) {
      auto again = DecodeToc(EncodeToc(*r));
      ASSERT_TRUE(again.ok()) << again.status().ToString();
      EXPECT_EQ(*again, *r);
    }
  }
}

TEST(TocTest, JsonView) {
  Toc t = RichToc();
  auto j = nlohmann::json::parse(TocToJson(t));
  EXPECT_EQ(j["tar_size"], t.tar_size);
  EXPECT_EQ(j["diff_id"], t.diff_id.ToString());
  ASSERT_EQ(j["entries"].size(), t.entries.size());
  for (size_t i = 0; i < t.entries.size(); ++i) {
    const auto& je = j["entries"][i];
    const Entry& e = t.entries[i];
    EXPECT_EQ(je["type"], std::string(tar::EntryTypeName(e.meta.type)));
    EXPECT_EQ(je["size"], e.meta.size);
    ASSERT_EQ(je["chunks"].size(), e.chunks.size());
    for (size_t c = 0; c < e.chunks.size(); ++c) {
      EXPECT_EQ(je["chunks"][c]["offset"], e.chunks[c].compressed_offset);
      EXPECT_EQ(je["chunks"][c]["length"], e.chunks[c].compressed_size);
      EXPECT_EQ(je["chunks"][c]["size"], e.chunks[c].size);
      EXPECT_EQ(je["chunks"][c]["digest"], e.chunks[c].digest.ToString());
    }
    if (e.meta.type == tar::EntryType::kRegular) {
      EXPECT_EQ(je["digest"], e.digest.ToString());
    } else {
      EXPECT_FALSE(je.contains("digest"));
    }
  }
  EXPECT_EQ(j["entries"][1]["path"], "etc/passwd");
  EXPECT_EQ(j["entries"][1]["mtime_nsec"], 123456789);
  EXPECT_EQ(j["entries"][1]["xattrs_base64"]["user.a"], "Yg==");
  EXPECT_EQ(j["entries"][1]["xattrs_base64"]["security.capability"], "AQD/");
  // Non-UTF-8 names: a readable replacement plus the exact bytes in base64.
  EXPECT_EQ(j["entries"][2]["path_base64"], "Y2Fm6S9iaWc=");
  EXPECT_EQ(j["entries"][2]["uid"], uint64_t{1} << 40);
  EXPECT_EQ(j["entries"][2]["mtime"], -5);
  EXPECT_EQ(j["entries"][4]["sparse_map"][1]["offset"], 5000);
  EXPECT_EQ(j["entries"][4]["stored_size"], 300);
  EXPECT_EQ(j["entries"][5]["linkname"], "../usr/lib/os-release");
  EXPECT_EQ(j["entries"][7]["devminor"], 70000);
  EXPECT_EQ(j["entries"][8]["typeflag"], "V");
  // Pretty output parses to the same document.
  EXPECT_EQ(nlohmann::json::parse(TocToJson(t, {.pretty = true})), j);
}

TEST(TocTest, Summary) {
  std::string s = Summary(RichToc());
  EXPECT_NE(s.find("9 entries"), std::string::npos) << s;
  EXPECT_NE(s.find("4 reg"), std::string::npos) << s;
  EXPECT_NE(s.find("diffID sha256:"), std::string::npos) << s;
}

}  // namespace
}  // namespace starlight::toc
