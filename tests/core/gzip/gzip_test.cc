#include "core/gzip/gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/io/reader.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/tar_builder.h"

namespace starlight::gzip {
namespace {

using starlight::testing::GzipCompress;
using starlight::testing::InflateOneMember;
using starlight::testing::PseudoRandomBytes;

// Hands out at most `step` bytes per Read, to exercise every buffer boundary.
class TrickleSource : public io::ByteSource {
 public:
  TrickleSource(std::string_view data, size_t step) : data_(data), step_(step) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min({n, step_, data_.size()});
    std::memcpy(buf, data_.data(), k);
    data_.remove_prefix(k);
    return k;
  }

 private:
  std::string_view data_;
  size_t step_;
};

struct Decoded {
  Status status;
  std::string data;
  std::vector<MemberInfo> members;
};

Decoded DecodeAll(std::string_view gz, size_t step = 1 << 20, size_t read_size = 1 << 16) {
  TrickleSource src(gz, step);
  Decoded d;
  GzipDecoder dec(&src, [&](const MemberInfo& m) { d.members.push_back(m); });
  std::string buf(read_size, '\0');
  for (;;) {
    auto n = dec.Read(buf.data(), buf.size());
    if (!n.ok()) {
      d.status = n.status();
      return d;
    }
    if (*n == 0) break;
    d.data.append(buf.data(), *n);
  }
  EXPECT_EQ(dec.members(), d.members.size());
  EXPECT_EQ(dec.compressed_offset(), gz.size());
  return d;
}

TEST(GzipTest, LooksLikeGzip) {
  EXPECT_TRUE(LooksLikeGzip(std::string("\x1f\x8b\x08\x00", 4)));
  EXPECT_FALSE(LooksLikeGzip(std::string("\x1f\x8b", 2)));
  EXPECT_FALSE(LooksLikeGzip(std::string("\x1f\x8b\x07", 3)));
  EXPECT_FALSE(LooksLikeGzip("ustar"));
}

TEST(GzipTest, ExtraMemberRoundTripAndDecompressesToNothing) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{84}, size_t{1000}, kMaxExtraPayload}) {
    std::string payload = PseudoRandomBytes(size, size + 1);
    std::string m = ExtraMember('S', 'T', payload);
    ASSERT_EQ(m.size(), ExtraMemberSize(size));
    size_t member_size = 0;
    const std::string with_tail = m + "trailing bytes";  // outlives the returned view
    auto parsed = ParseExtraMember(with_tail, 'S', 'T', &member_size);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, payload);
    EXPECT_EQ(member_size, m.size());
    // zlib: a complete, valid member (CRC, ISIZE) with an empty body.
    std::string out = "not empty";
    ASSERT_TRUE(InflateOneMember(m, &out)) << size;
    EXPECT_TRUE(out.empty());
    // Fixed header fields: deterministic bytes.
    EXPECT_EQ(m, ExtraMember('S', 'T', payload));
    EXPECT_EQ(static_cast<uint8_t>(m[3]), 0x04);  // FLG.FEXTRA only
    EXPECT_EQ(m.substr(4, 4), std::string(4, '\0'));  // MTIME 0
  }
}

TEST(GzipTest, ParseExtraMemberRejects) {
  std::string m = ExtraMember('S', 'F', "payload");
  size_t size = 0;
  EXPECT_EQ(ParseExtraMember(m, 'S', 'T', &size).status().code(), Code::kCorruption);
  for (size_t n = 0; n < m.size(); ++n) {
    EXPECT_FALSE(ParseExtraMember(std::string_view(m).substr(0, n), 'S', 'F', &size).ok()) << n;
  }
  std::string plain = GzipCompress("");
  EXPECT_FALSE(ParseExtraMember(plain, 'S', 'F', &size).ok());
  std::string body = m;
  body[body.size() - 9] = 0x01;  // the empty deflate block changed
  EXPECT_FALSE(ParseExtraMember(body, 'S', 'F', &size).ok());
  std::string crc = m;
  crc[crc.size() - 8] = 0x01;
  EXPECT_FALSE(ParseExtraMember(crc, 'S', 'F', &size).ok());
  std::string len = m;
  len[14] = static_cast<char>(len[14] + 1);  // LEN != XLEN - 4
  EXPECT_FALSE(ParseExtraMember(len, 'S', 'F', &size).ok());
}

TEST(GzipTest, MemberCompressorAllLevelsDeterministicAndValid) {
  std::string data = PseudoRandomBytes(200000, 3, /*text=*/true) + PseudoRandomBytes(5000, 4);
  for (int level = 0; level <= kMaxLevel; ++level) {
    MemberCompressor c(level);
    std::string a, b;
    c.Compress(data, &a);
    MemberCompressor c2(level);
    c2.Compress(data, &b);
    EXPECT_EQ(a, b) << "level " << level;
    std::string out;
    ASSERT_TRUE(InflateOneMember(a, &out)) << "level " << level;
    EXPECT_EQ(out, data);
    EXPECT_EQ(a.substr(0, 10), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10));
  }
  // Appends; the empty input gives a valid empty member.
  MemberCompressor c(6);
  std::string two = "prefix";
  c.Compress("", &two);
  c.Compress("x", &two);
  EXPECT_EQ(two.substr(0, 6), "prefix");
  auto members = starlight::testing::ListMembers(std::string_view(two).substr(6));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].usize, 0u);
  EXPECT_EQ(members[1].usize, 1u);
}

TEST(GzipTest, DecoderReportsMemberBoundaries) {
  std::vector<std::string> pieces = {"first member", "", std::string(70000, 'a'),
                                     PseudoRandomBytes(300000, 9), "x"};
  std::string gz, all;
  MemberCompressor c(6);
  for (const auto& p : pieces) {
    c.Compress(p, &gz);
    all += p;
  }
  gz += ExtraMember('S', 'T', "toc bytes");
  gz += GzipCompress("zlib member");  // a member from another writer
  all += "zlib member";
  auto expected = starlight::testing::ListMembers(gz);
  ASSERT_EQ(expected.size(), 7u);
  for (size_t step : {size_t{1}, size_t{7}, size_t{4096}, size_t{1} << 20}) {
    for (size_t read_size : {size_t{1}, size_t{1000}, size_t{1} << 16}) {
      if (step == 1 && read_size == 1) continue;  // slow and covered by the others
      Decoded d = DecodeAll(gz, step, read_size);
      ASSERT_TRUE(d.status.ok()) << d.status.ToString();
      EXPECT_EQ(d.data, all);
      ASSERT_EQ(d.members.size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(d.members[i].compressed_offset, expected[i].offset) << i;
        EXPECT_EQ(d.members[i].compressed_size, expected[i].size) << i;
        EXPECT_EQ(d.members[i].uncompressed_offset, expected[i].uoffset) << i;
        EXPECT_EQ(d.members[i].uncompressed_size, expected[i].usize) << i;
      }
    }
  }
}

TEST(GzipTest, ObserverSeesMemberBeforeNextMembersBytes) {
  std::string gz = GzipCompress("aaaa") + GzipCompress("bbbb");
  auto src = io::NewStringSource(gz);
  std::string seen;
  size_t members_when_b = 99;
  size_t members = 0;
  GzipDecoder dec(src.get(), [&](const MemberInfo&) { ++members; });
  char c;
  for (;;) {
    auto n = dec.Read(&c, 1);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    if (c == 'b' && members_when_b == 99) members_when_b = members;
    seen += c;
  }
  EXPECT_EQ(seen, "aaaabbbb");
  EXPECT_EQ(members_when_b, 1u);
  EXPECT_EQ(members, 2u);
}

TEST(GzipTest, DecoderErrors) {
  std::string data = PseudoRandomBytes(50000, 5, true);
  std::string gz = GzipCompress(data);
  size_t n = gz.size();
  auto expect_error = [](std::string_view bad, std::string_view want) {
    Decoded d = DecodeAll(bad);
    EXPECT_EQ(d.status.code(), Code::kCorruption) << want;
    EXPECT_NE(d.status.message().find(want), std::string::npos) << d.status.message();
    EXPECT_EQ(d.status.message().find('\n'), std::string::npos);
  };
  expect_error(gz.substr(0, n - 1), "truncated gzip stream: member at compressed offset 0");
  expect_error(gz.substr(0, 5), "truncated gzip stream");
  std::string crc = gz;
  crc[n - 6] ^= 0x10;
  expect_error(crc, "incorrect data check");
  std::string isize = gz;
  isize[n - 1] ^= 0x01;
  expect_error(isize, "incorrect length check");
  std::string deflate = gz;
  deflate[10] = 0x07;
  expect_error(deflate, "invalid block type");
  expect_error(gz + "junk", "data after the last gzip member at compressed offset " + std::to_string(n));
  expect_error(gz + std::string(4, '\0'), "data after the last gzip member");
  expect_error(gz + "\x1f\x8b", "truncated gzip stream: member at compressed offset " + std::to_string(n));
  std::string second = gz + gz;
  second[n + 3] = static_cast<char>(0xe0);  // reserved FLG bits
  expect_error(second, "corrupt gzip member at compressed offset " + std::to_string(n));
  expect_error("", "empty gzip stream");
  expect_error("plain text", "not a gzip header");
}

}  // namespace
}  // namespace starlight::gzip
