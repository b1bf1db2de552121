#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "core/coding/coding.h"
#include "core/gzip/gzip.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/format.h"
#include "core/seekable/reader.h"
#include "core/seekable/writer.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/tar_builder.h"

namespace starlight::seekable {
namespace {

using starlight::testing::GzipCompress;
using starlight::testing::GzipMembers;
using starlight::testing::InflateOneMember;
using starlight::testing::PseudoRandomBytes;
using starlight::testing::TarBuilder;

using io::StringSink;

class FailingSink : public io::ByteSink {
 public:
  Status Append(std::string_view d) override {
    if (written_ + d.size() > 2000) return Status::IoError("no space left on test device");
    written_ += d.size();
    return Status::Ok();
  }
  uint64_t BytesWritten() const override { return written_; }

 private:
  uint64_t written_ = 0;
};

struct Converted {
  ConvertResult result;
  std::string blob;
};

Converted Convert(std::string_view input, WriterOptions options = {}) {
  auto src = io::NewStringSource(input);
  StringSink sink;
  auto r = ConvertLayer(src.get(), &sink, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  return {std::move(r).value(), std::move(sink.data)};
}

std::string SampleTar() {
  TarBuilder b;
  b.Dir("app/")
      .File("app/hello.txt", "hello, world\n")
      .File("app/empty", "")
      .File("app/data.bin", PseudoRandomBytes(100000, 1))
      .File("app/text", PseudoRandomBytes(300000, 2, true))
      .Symlink("app/link", "hello.txt")
      .End();
  return b.bytes();
}

Footer SampleFooter() {
  Footer f;
  f.toc_offset = 0x0102030405060708ull;
  f.toc_members_size = 12345;
  f.toc_compressed_size = 12000;
  f.toc_size = 99999;
  f.toc_digest = digest::Sha256Of("toc");
  return f;
}

std::string FooterPayload(uint32_t version, uint32_t flags, size_t size = kFooterPayloadSize) {
  std::string p(kFooterMagic, 8);
  coding::PutFixed32(&p, version);
  coding::PutFixed32(&p, flags);
  for (int i = 0; i < 4; ++i) coding::PutFixed64(&p, 100 + i);
  p.append(digest::Sha256Of("x").Raw());
  p.resize(size - 4, '\0');
  coding::PutFixed32(&p, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(p.data()),
                                                      static_cast<uInt>(p.size()))));
  return p;
}

TEST(FooterTest, RoundTripAndEmptyMember) {
  Footer f = SampleFooter();
  std::string m = EncodeFooterMember(f);
  ASSERT_EQ(m.size(), kFooterMemberSize);
  auto d = DecodeFooterMember(m);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, f);
  std::string out = "x";
  ASSERT_TRUE(InflateOneMember(m, &out));
  EXPECT_TRUE(out.empty());
}

TEST(FooterTest, NotFoundForAnythingElse) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 200; ++i) {
    std::string junk(kFooterMemberSize, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2) junk.replace(0, 3, "\x1f\x8b\x08");  // looks like gzip
    EXPECT_EQ(DecodeFooterMember(junk).status().code(), Code::kNotFound);
  }
  EXPECT_EQ(DecodeFooterMember("").status().code(), Code::kNotFound);
  EXPECT_EQ(DecodeFooterMember(GzipCompress(std::string(60, 'a'))).status().code(), Code::kNotFound);
  // A ToC member is not a footer either.
  std::string toc_member = gzip::ExtraMember('S', 'T', FooterPayload(1, 0));
  auto s = DecodeFooterMember(toc_member);
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_NE(s.status().message().find("not a seekable layer"), std::string::npos);
}

TEST(FooterTest, CorruptionAndNotSupported) {
  std::string m = EncodeFooterMember(SampleFooter());
  std::string bad_crc = m;
  bad_crc[16 + 20] ^= 0x01;  // a byte of toc_offset inside the payload
  auto c = DecodeFooterMember(bad_crc);
  EXPECT_EQ(c.status().code(), Code::kCorruption) << c.status().ToString();
  EXPECT_NE(c.status().message().find("checksum"), std::string::npos);

  auto v2 = DecodeFooterMember(gzip::ExtraMember('S', 'F', FooterPayload(2, 0)));
  EXPECT_EQ(v2.status().code(), Code::kNotSupported) << v2.status().ToString();
  EXPECT_NE(v2.status().message().find("version 2"), std::string::npos);
  auto flags = DecodeFooterMember(gzip::ExtraMember('S', 'F', FooterPayload(1, 1)));
  EXPECT_EQ(flags.status().code(), Code::kNotSupported);
  auto ok = DecodeFooterMember(gzip::ExtraMember('S', 'F', FooterPayload(1, 0)));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  auto size = DecodeFooterMember(gzip::ExtraMember('S', 'F', FooterPayload(1, 0, 100)));
  EXPECT_EQ(size.status().code(), Code::kCorruption);
  // The member must be exactly the footer: bytes after it are not a footer.
  auto longer = DecodeFooterMember(m + "x");
  EXPECT_FALSE(longer.ok());
}

TEST(WriterTest, LevelPolicy) {
  EXPECT_EQ(LevelFor(kAutoLevel, 0), kAutoSmallLevel);
  EXPECT_EQ(LevelFor(kAutoLevel, kAutoSmallMember - 1), kAutoSmallLevel);
  EXPECT_EQ(LevelFor(kAutoLevel, kAutoSmallMember), kAutoLargeLevel);
  for (int l = 0; l <= 12; ++l) EXPECT_EQ(LevelFor(l, 1 << 30), l);
  for (int bad : {-2, 13}) {
    auto src = io::NewStringSource("x");
    StringSink sink;
    WriterOptions o;
    o.level = bad;
    EXPECT_EQ(ConvertLayer(src.get(), &sink, o).status().code(), Code::kInvalidArgument);
  }
}

TEST(WriterTest, EmbeddedTocEqualsResultAndScan) {
  std::string tar = SampleTar();
  std::vector<Progress> progress;
  WriterOptions o;
  o.progress = [&](const Progress& p) { progress.push_back(p); };
  Converted c = Convert(tar, o);
  ASSERT_FALSE(c.blob.empty());
  EXPECT_EQ(c.result.output_bytes, c.blob.size());
  EXPECT_EQ(c.result.blob_digest, digest::Sha256Of(c.blob));
  EXPECT_EQ(c.result.input_bytes, tar.size());
  EXPECT_FALSE(c.result.input_gzip);
  EXPECT_EQ(c.result.toc.tar_size, tar.size());
  EXPECT_EQ(c.result.toc.diff_id, digest::Sha256Of(tar));
  EXPECT_EQ(c.result.encoded_toc, toc::EncodeToc(c.result.toc));
  EXPECT_EQ(c.result.members, starlight::testing::ListMembers(c.blob).size());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().tar_bytes, tar.size());
  EXPECT_EQ(progress.back().output_bytes, c.blob.size());

  auto reader = io::NewStringReader(c.blob);
  auto footer = ReadFooter(*reader);
  ASSERT_TRUE(footer.ok()) << footer.status().ToString();
  EXPECT_EQ(footer->toc_offset + footer->toc_members_size + kFooterMemberSize, c.blob.size());
  EXPECT_EQ(footer->toc_members_size, c.result.toc_bytes - kFooterMemberSize);
  auto embedded = ReadEmbeddedToc(*reader);
  ASSERT_TRUE(embedded.ok()) << embedded.status().ToString();
  EXPECT_EQ(embedded->toc, c.result.toc);
  EXPECT_EQ(embedded->encoded, c.result.encoded_toc);
  // The same with the ToC members fetched "by range request".
  auto ranged = DecodeTocMembers(
      std::string_view(c.blob).substr(footer->toc_offset, footer->toc_members_size), *footer);
  ASSERT_TRUE(ranged.ok());
  EXPECT_EQ(ranged->toc, c.result.toc);

  auto src = io::NewStringSource(c.blob);
  auto scan = ScanLayer(src.get());
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(scan->toc, c.result.toc);
  EXPECT_EQ(scan->data_end, footer->toc_offset);
  EXPECT_EQ(scan->blob_size, c.blob.size());
  EXPECT_EQ(scan->blob_digest, c.result.blob_digest);
  auto v = VerifyLayer(*reader);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
}

TEST(WriterTest, SinkErrorPropagates) {
  std::string tar = SampleTar();
  auto src = io::NewStringSource(tar);
  FailingSink sink;
  auto r = ConvertLayer(src.get(), &sink, {});
  EXPECT_EQ(r.status().code(), Code::kIoError) << r.status().ToString();
  EXPECT_NE(r.status().message().find("no space left"), std::string::npos);
}

TEST(WriterTest, MaxTarSize) {
  std::string tar = SampleTar();
  WriterOptions o;
  o.max_tar_size = tar.size();
  EXPECT_FALSE(Convert(tar, o).blob.empty());  // exactly at the limit is fine
  o.max_tar_size = tar.size() - 1;
  auto src = io::NewStringSource(tar);
  StringSink sink;
  auto r = ConvertLayer(src.get(), &sink, o);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("exceeds the limit of " + std::to_string(tar.size() - 1)),
            std::string::npos)
      << r.status().message();
}

TEST(ReaderTest, PlainGzipIsNotSeekable) {
  std::string tar = SampleTar();
  std::string gz = GzipCompress(tar);
  auto reader = io::NewStringReader(gz);
  auto f = ReadFooter(*reader);
  EXPECT_EQ(f.status().code(), Code::kNotFound);
  EXPECT_NE(f.status().message().find("not a seekable layer"), std::string::npos);
  EXPECT_EQ(ReadFooter(*io::NewStringReader("tiny")).status().code(), Code::kNotFound);
  EXPECT_EQ(VerifyLayer(*reader).status().code(), Code::kNotFound);

  auto src = io::NewStringSource(gz);
  auto scan = ScanLayer(src.get());
  EXPECT_EQ(scan.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(scan.status().message().find(
                "content of 'app/hello.txt' (tar offset 1024) does not start on a gzip member"),
            std::string::npos)
      << scan.status().message();
}

TEST(ReaderTest, ScanFindsMisalignedContent) {
  TarBuilder b;
  b.File("a", std::string(1000, 'a')).File("b", std::string(1000, 'b')).End();
  const std::string tar = b.bytes();
  auto scan_of = [](const std::string& gz) {
    auto src = io::NewStringSource(gz);
    return ScanLayer(src.get()).status();
  };
  // Aligned by hand: metadata | content | metadata | content | metadata.
  std::string aligned = GzipCompress(tar.substr(0, 512)) + GzipCompress(tar.substr(512, 1000)) +
                        GzipCompress(tar.substr(1512, 1536 + 512 - 1512)) +
                        GzipCompress(tar.substr(2048, 1000)) + GzipCompress(tar.substr(3048));
  EXPECT_TRUE(scan_of(aligned).ok()) << scan_of(aligned).ToString();
  // Content split across two members is fine too.
  std::string split = GzipCompress(tar.substr(0, 512)) + GzipCompress(tar.substr(512, 400)) +
                      GzipCompress(tar.substr(912, 600)) + GzipCompress(tar.substr(1512));
  Status s = scan_of(split);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);  // 'b' is not aligned
  EXPECT_NE(s.message().find("content of 'b'"), std::string::npos) << s.message();
  // 'a' ends inside a member that also holds its padding.
  std::string late_end = GzipCompress(tar.substr(0, 512)) + GzipCompress(tar.substr(512, 1001)) +
                         GzipCompress(tar.substr(1513));
  s = scan_of(late_end);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("content of 'a' (tar offset 512) does not end on a gzip member"),
            std::string::npos)
      << s.message();
  // An empty member inside the content.
  std::string interrupted = GzipCompress(tar.substr(0, 512)) + GzipCompress(tar.substr(512, 500)) +
                            GzipCompress("") + GzipCompress(tar.substr(1012, 500)) +
                            GzipCompress(tar.substr(1512));
  s = scan_of(interrupted);
  EXPECT_NE(s.message().find("interrupted by an empty member"), std::string::npos) << s.message();
  // Members larger than the chunk limit.
  TarBuilder big;
  big.File("big", std::string(kChunkSize + 1, 'z')).End();
  std::string bigtar = big.bytes();
  std::string one = GzipCompress(bigtar.substr(0, 512)) + GzipCompress(bigtar.substr(512, kChunkSize + 1)) +
                    GzipCompress(bigtar.substr(512 + kChunkSize + 1));
  s = scan_of(one);
  EXPECT_NE(s.message().find("larger than the 4194304-byte chunk limit"), std::string::npos)
      << s.message();
  // Trailing garbage after the blob is corruption, not "not seekable".
  s = scan_of(aligned + "junk");
  EXPECT_EQ(s.code(), Code::kCorruption);
}

// Raw deflate (zlib) for rebuilding ToC members by hand.
std::string DeflateRaw(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// data members ++ ToC members for `encoded` ++ footer, as the writer lays them out.
std::string Embed(std::string_view data, const std::string& encoded, Footer* out_footer = nullptr) {
  std::string deflated = DeflateRaw(encoded);
  std::string tail;
  for (size_t i = 0; i < deflated.size(); i += gzip::kMaxExtraPayload) {
    tail += gzip::ExtraMember('S', 'T', std::string_view(deflated).substr(i, gzip::kMaxExtraPayload));
  }
  Footer f;
  f.toc_offset = data.size();
  f.toc_members_size = tail.size();
  f.toc_compressed_size = deflated.size();
  f.toc_size = encoded.size();
  f.toc_digest = digest::Sha256Of(encoded);
  if (out_footer) *out_footer = f;
  return std::string(data) + tail + EncodeFooterMember(f);
}

TEST(ReaderTest, VerifyCatchesEveryKindOfLie) {
  Converted c = Convert(SampleTar());
  ASSERT_FALSE(c.blob.empty());
  const uint64_t data_end = c.blob.size() - c.result.toc_bytes;
  const std::string data = c.blob.substr(0, data_end);
  auto verify = [](const std::string& blob) { return VerifyLayer(*io::NewStringReader(blob)).status(); };

  // Rebuilding with the same ToC gives a valid blob (the test helper is faithful).
  std::string same = Embed(data, c.result.encoded_toc);
  EXPECT_TRUE(verify(same).ok()) << verify(same).ToString();

  // A ToC that lies about metadata, a digest or an offset: the scan disagrees.
  toc::Toc lie = c.result.toc;
  lie.entries[1].meta.mode = 0777;
  Status s = verify(Embed(data, toc::EncodeToc(lie)));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("entry 1 ('app/hello.txt') differs"), std::string::npos) << s.message();
  lie = c.result.toc;
  lie.entries[3].digest = digest::Sha256Of("other");
  lie.entries[3].chunks[0].digest = lie.entries[3].digest;
  EXPECT_EQ(verify(Embed(data, toc::EncodeToc(lie))).code(), Code::kCorruption);
  lie = c.result.toc;
  lie.diff_id = digest::Sha256Of("other");
  s = verify(Embed(data, toc::EncodeToc(lie)));
  EXPECT_NE(s.message().find("different tar stream"), std::string::npos) << s.message();
  lie = c.result.toc;
  lie.entries.pop_back();
  EXPECT_EQ(verify(Embed(data, toc::EncodeToc(lie))).code(), Code::kCorruption);

  // A chunk placed beyond the data members is refused before any scan.
  lie = c.result.toc;
  lie.entries[4].chunks.back().compressed_offset = data_end + 5;  // the last chunk of the blob
  s = ReadEmbeddedToc(*io::NewStringReader(Embed(data, toc::EncodeToc(lie)))).status();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("outside the data"), std::string::npos) << s.message();

  // An extra empty member between the data and the ToC.
  s = verify(Embed(data + GzipCompress(""), c.result.encoded_toc));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("data members end at " + std::to_string(data_end)), std::string::npos)
      << s.message();

  // Damaged ToC member bytes, footer pointing elsewhere, truncated blob.
  std::string flipped = c.blob;
  flipped[data_end + 20] ^= 0x55;
  EXPECT_EQ(verify(flipped).code(), Code::kCorruption) << verify(flipped).ToString();
  Footer f;
  std::string rebuilt = Embed(data, c.result.encoded_toc, &f);
  f.toc_offset -= 1;
  std::string moved = rebuilt.substr(0, rebuilt.size() - kFooterMemberSize) + EncodeFooterMember(f);
  s = verify(moved);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("footer locates the ToC outside the blob"), std::string::npos);
  f.toc_offset += 1;
  f.toc_size = kMaxTocSize + 1;
  std::string huge = rebuilt.substr(0, rebuilt.size() - kFooterMemberSize) + EncodeFooterMember(f);
  s = verify(huge);
  EXPECT_NE(s.message().find("exceeds the limit"), std::string::npos) << s.message();
  EXPECT_EQ(verify(c.blob.substr(1)).code(), Code::kCorruption);
}

}  // namespace
}  // namespace starlight::seekable
