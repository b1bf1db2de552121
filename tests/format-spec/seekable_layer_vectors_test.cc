// Checks the implementation against format-spec/vectors/seekable-layer (spec section 8).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/format-spec/vector_files.h"
#include "core/gzip/gzip.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/format.h"
#include "core/seekable/reader.h"
#include "core/seekable/writer.h"
#include "core/toc/toc.h"

namespace starlight {
namespace {

using testing::Hex;
using testing::Unhex;

std::string ReadVector(const std::string& name) { return testing::ReadVectorFile("seekable-layer", name); }

std::map<std::string, std::string> Sums() {
  std::map<std::string, std::string> m;
  std::istringstream in(ReadVector("SHA256SUMS"));
  std::string digest, name;
  while (in >> digest >> name) m[name] = "sha256:" + digest;
  return m;
}

using io::StringSink;

TEST(SeekableLayerVectors, InputMatchesItsDigest) {
  EXPECT_EQ(digest::Sha256Of(ReadVector("small.tar.gz")).ToString(), Sums()["small.tar.gz"]);
}

TEST(SeekableLayerVectors, Level0BlobAndTocAreExact) {
  std::string input = ReadVector("small.tar.gz");
  auto src = io::NewStringSource(input);
  StringSink sink;
  seekable::WriterOptions opts;
  opts.level = 0;
  auto r = seekable::ConvertLayer(src.get(), &sink, opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto sums = Sums();
  EXPECT_EQ(r->blob_digest.ToString(), sums["small.level0.tar.gz"]);
  EXPECT_EQ(digest::Sha256Of(sink.data).ToString(), sums["small.level0.tar.gz"]);
  EXPECT_EQ(r->toc.diff_id.ToString(), sums["small.tar"]);
  EXPECT_EQ(r->encoded_toc, ReadVector("small.toc"));
  EXPECT_EQ(sums["small.toc"], digest::Sha256Of(ReadVector("small.toc")).ToString());

  // The embedded ToC reads back through the footer, and a full scan agrees with it.
  auto reader = io::NewStringReader(sink.data);
  auto v = seekable::VerifyLayer(*reader);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->embedded.encoded, ReadVector("small.toc"));
}

TEST(SeekableLayerVectors, TocDecodesToTheJsonVector) {
  auto toc = toc::DecodeToc(ReadVector("small.toc"));
  ASSERT_TRUE(toc.ok()) << toc.status().ToString();
  std::string json = ReadVector("small.toc.json");
  ASSERT_FALSE(json.empty());
  json.pop_back();  // newline written by inspect
  EXPECT_EQ(toc::TocToJson(*toc), json);
  EXPECT_EQ(toc::EncodeToc(*toc), ReadVector("small.toc"));
  // Spot checks of what section 8 promises the vector contains.
  std::map<std::string, const toc::Entry*> by_path;
  for (const auto& e : toc->entries) by_path[e.meta.path] = &e;
  ASSERT_TRUE(by_path.count("opt/big.bin"));
  EXPECT_EQ(by_path["opt/big.bin"]->chunks.size(), 2u);
  EXPECT_EQ(by_path["opt/big.bin"]->chunks[0].size, seekable::kChunkSize);
  EXPECT_EQ(by_path["opt/big.bin"]->chunks[1].size, 1u);
  ASSERT_TRUE(by_path.count("opt/hard"));
  EXPECT_EQ(by_path["opt/hard"]->meta.linkname, "etc/passwd");
  ASSERT_TRUE(by_path.count("opt/cap"));
  EXPECT_EQ(by_path["opt/cap"]->meta.mtime_nsec, 500000000u);
  ASSERT_EQ(by_path["opt/cap"]->meta.xattrs.size(), 1u);
  EXPECT_EQ(by_path["opt/cap"]->meta.xattrs[0].first, "user.comment");
  EXPECT_TRUE(by_path.count("opt/caf\xe9"));
  EXPECT_TRUE(by_path.count("opt/.wh.gone"));
  EXPECT_EQ(by_path["opt/fifo"]->meta.type, tar::EntryType::kFifo);
}

TEST(SeekableLayerVectors, FooterMember) {
  seekable::Footer f;
  f.toc_offset = 1000;
  f.toc_members_size = 300;
  f.toc_compressed_size = 274;
  f.toc_size = 900;
  f.toc_digest = digest::Sha256Of("");
  std::string member = seekable::EncodeFooterMember(f);
  EXPECT_EQ(member.size(), seekable::kFooterMemberSize);
  EXPECT_EQ(Hex(member), Hex(Unhex(ReadVector("footer.hex"))));
  auto back = seekable::DecodeFooterMember(Unhex(ReadVector("footer.hex")));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, f);
}

TEST(SeekableLayerVectors, EmptyExtraMember) {
  std::string m = gzip::ExtraMember('S', 'T', "abc");
  EXPECT_EQ(m, Unhex(ReadVector("empty-extra.hex")));
  size_t size = 0;
  auto payload = gzip::ParseExtraMember(m, 'S', 'T', &size);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, "abc");
  EXPECT_EQ(size, m.size());
}

}  // namespace
}  // namespace starlight
