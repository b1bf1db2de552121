// Drives the real starlight-convert binary: exit codes (0 ok, 1 error, 2 not seekable, 3 usage),
// one-line messages, no leftovers on failure, inspect --json / --verify, bounded memory on a
// gzip bomb (peak RSS of the child from wait4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/digest/digest.h"
#include "core/gzip/gzip.h"
#include "core/io/reader.h"
#include "core/seekable/reader.h"
#include "core/toc/toc.h"
#include "tests/testing/bad_inputs.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight {
namespace {

namespace t = starlight::testing;
using t::RunResult;
using t::TempDir;

const std::string kBinary = SL_CONVERT_BINARY;

RunResult Cli(std::vector<std::string> args, const t::RunOptions& options = {}) {
  args.insert(args.begin(), kBinary);
  return t::Run(args, options);
}

bool OneLine(const std::string& s) {
  return !s.empty() && s.back() == '\n' && s.find('\n') == s.size() - 1;
}

struct Sample {
  std::string tar;
  std::map<std::string, std::string> files;  // path -> content
};

Sample MakeSample() {
  Sample s;
  t::TarBuilder b;
  auto file = [&](const std::string& p, const std::string& content) {
    b.File(p, content);
    s.files[p] = content;
  };
  b.Dir("app/");
  file("app/config", "setting=1\nother=2\n");
  file("app/empty", "");
  file("app/big.bin", t::PseudoRandomBytes((5 << 20) + 3, 1, true));  // two chunks
  file(std::string("app/caf\xe9", 8), "latin-1");
  b.Symlink("app/link", "config").Hardlink("app/hard", "app/config");
  b.Pax({{"SCHILY.xattr.user.k", "v"}});
  file("app/xattr", "with xattr");
  b.End();
  s.tar = b.bytes();
  return s;
}

TEST(CliTest, ConvertThenInspectJson) {
  Sample s = MakeSample();
  TempDir in, out;
  t::WriteFile(in.Join("layer.tar"), s.tar);
  RunResult r = Cli({"layer", in.Join("layer.tar"), out.Join("blob"), "--toc", out.Join("toc"), "-j", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(OneLine(r.err)) << r.err;
  EXPECT_NE(r.err.find("converted"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(t::ListDir(out.path()), (std::vector<std::string>{"blob", "toc"}));
  const std::string blob = t::ReadFile(out.Join("blob"));
  EXPECT_EQ(t::GunzipOrThrow(blob), s.tar);

  RunResult q = Cli({"layer", "-q", in.Join("layer.tar"), out.Join("quiet")});
  EXPECT_EQ(q.exit_code, 0) << q.err;
  EXPECT_TRUE(q.err.empty()) << q.err;

  RunResult j = Cli({"inspect", out.Join("blob"), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(j.out));
  EXPECT_EQ(doc["tar_size"], s.tar.size());
  EXPECT_EQ(doc["diff_id"], digest::Sha256Of(s.tar).ToString());
  const auto& entries = doc["entries"];
  ASSERT_EQ(entries.size(), 8u);
  std::vector<std::string> types;
  size_t checked = 0;
  for (const auto& e : entries) {
    ASSERT_TRUE(e.contains("path") && e.contains("type") && e.contains("size") && e.contains("chunks"))
        << e.dump();
    types.push_back(e["type"]);
    std::string path = e["path"];
    if (e.contains("path_base64")) path = std::string("app/caf\xe9", 8);  // the exact bytes
    auto f = s.files.find(path);
    if (e["type"] != "reg") {
      EXPECT_FALSE(e.contains("digest"));
      EXPECT_TRUE(e["chunks"].empty());
      continue;
    }
    ASSERT_NE(f, s.files.end()) << path;
    EXPECT_EQ(e["size"], f->second.size());
    EXPECT_EQ(e["digest"], digest::Sha256Of(f->second).ToString());
    // Inflating the chunks' byte ranges alone, one gzip member each, gives the content back.
    std::string content;
    for (const auto& c : e["chunks"]) {
      uint64_t off = c["offset"], len = c["length"];
      ASSERT_LE(off + len, blob.size());
      std::string part;
      ASSERT_TRUE(t::InflateOneMember(std::string_view(blob).substr(off, len), &part)) << path;
      content += part;
    }
    EXPECT_EQ(content, f->second) << path;
    EXPECT_EQ(e["chunks"].size(), f->second.empty() ? 0u : (f->second.size() + (4u << 20) - 1) / (4u << 20));
    ++checked;
  }
  EXPECT_EQ(checked, 5u);
  EXPECT_EQ(types, (std::vector<std::string>{"dir", "reg", "reg", "reg", "reg", "symlink",
                                             "hardlink", "reg"}));

  // The --toc file is the encoded ToC that is embedded.
  auto decoded = toc::DecodeToc(t::ReadFile(out.Join("toc")));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  auto embedded = seekable::ReadEmbeddedToc(*io::NewStringReader(blob));
  ASSERT_TRUE(embedded.ok());
  EXPECT_EQ(*decoded, embedded->toc);

  RunResult summary = Cli({"inspect", out.Join("blob")});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("8 entries"), std::string::npos) << summary.out;
  RunResult verify = Cli({"inspect", "--verify", out.Join("blob")});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("verified: embedded ToC matches a scan"), std::string::npos) << verify.out;
}

TEST(CliTest, DeterministicAcrossJobsInputsAndPipes) {
  Sample s = MakeSample();
  TempDir dir;
  t::WriteFile(dir.Join("in.tar"), s.tar);
  t::WriteFile(dir.Join("in.tar.gz"), t::GzipCompress(s.tar));
  t::WriteFile(dir.Join("in.multi.gz"), t::GzipMembers(s.tar, 4096));
  std::vector<std::string> blobs;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"layer", dir.Join("in.tar"), dir.Join("o1"), "-j", "1"},
           {"layer", dir.Join("in.tar"), dir.Join("o2"), "-j", "2"},
           {"layer", dir.Join("in.tar"), dir.Join("o3")},
           {"layer", dir.Join("in.tar.gz"), dir.Join("o4"), "-j", "2"},
           {"layer", dir.Join("in.multi.gz"), dir.Join("o5"), "-j", "1"}}) {
    RunResult r = Cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    blobs.push_back(t::ReadFile(args[2]));
  }
  // Reconverting the blob, and standard input to standard output.
  ASSERT_EQ(Cli({"layer", dir.Join("o1"), dir.Join("o6")}).exit_code, 0);
  blobs.push_back(t::ReadFile(dir.Join("o6")));
  t::RunOptions stdin_options;
  stdin_options.stdin_path = dir.Join("in.tar.gz");
  RunResult piped = Cli({"layer", "-", "-"}, stdin_options);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  blobs.push_back(piped.out);
  for (size_t i = 1; i < blobs.size(); ++i) EXPECT_TRUE(blobs[i] == blobs[0]) << "output " << i;
  // The other level policies are deterministic too (and differ from auto).
  ASSERT_EQ(Cli({"layer", "--level", "0", dir.Join("in.tar"), dir.Join("l0a"), "-j", "1"}).exit_code, 0);
  ASSERT_EQ(Cli({"layer", "--level", "0", dir.Join("in.tar"), dir.Join("l0b"), "-j", "2"}).exit_code, 0);
  EXPECT_EQ(t::ReadFile(dir.Join("l0a")), t::ReadFile(dir.Join("l0b")));
  EXPECT_NE(t::ReadFile(dir.Join("l0a")), blobs[0]);
  EXPECT_EQ(t::GunzipOrThrow(t::ReadFile(dir.Join("l0a"))), s.tar);
}

TEST(CliTest, PlainTarGzIsNotSeekable) {
  Sample s = MakeSample();
  TempDir dir;
  t::WriteFile(dir.Join("plain.tar.gz"), t::GzipCompress(s.tar));
  t::WriteFile(dir.Join("plain.tar"), s.tar);
  for (const std::string& f : {dir.Join("plain.tar.gz"), dir.Join("plain.tar")}) {
    for (bool verify : {false, true}) {
      std::vector<std::string> args = {"inspect", f};
      if (verify) args.push_back("--verify");
      RunResult r = Cli(args);
      EXPECT_EQ(r.exit_code, 2) << r.err;
      EXPECT_TRUE(OneLine(r.err)) << r.err;
      EXPECT_NE(r.err.find("not a seekable layer"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(f), std::string::npos) << r.err;
    }
  }
  RunResult missing = Cli({"inspect", dir.Join("missing")});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
}

TEST(CliTest, DamagedTocIsAnError) {
  Sample s = MakeSample();
  TempDir dir;
  t::WriteFile(dir.Join("in.tar"), s.tar);
  ASSERT_EQ(Cli({"layer", dir.Join("in.tar"), dir.Join("blob")}).exit_code, 0);
  std::string blob = t::ReadFile(dir.Join("blob"));
  auto footer = seekable::ReadFooter(*io::NewStringReader(blob));
  ASSERT_TRUE(footer.ok());
  // Flip bytes inside the deflated ToC carried by the first ToC member.
  for (uint64_t at : {footer->toc_offset + 16, footer->toc_offset + 40, footer->toc_offset + 16 + footer->toc_compressed_size / 2}) {
    std::string bad = blob;
    bad[at] ^= 0x5a;
    t::WriteFile(dir.Join("bad"), bad);
    for (bool verify : {false, true}) {
      std::vector<std::string> args = {"inspect", dir.Join("bad"), "--json"};
      if (verify) args.push_back("--verify");
      RunResult r = Cli(args);
      EXPECT_EQ(r.exit_code, 1) << "offset " << at << ": " << r.err;
      EXPECT_TRUE(OneLine(r.err)) << r.err;
      EXPECT_NE(r.err.find("corruption"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("not a seekable"), std::string::npos) << r.err;
      EXPECT_TRUE(r.out.empty());
    }
  }
  // A damaged footer checksum is corruption too (exit 1), not "not seekable".
  std::string bad = blob;
  bad[bad.size() - seekable::kFooterMemberSize + 16 + 30] ^= 1;
  t::WriteFile(dir.Join("badfooter"), bad);
  RunResult r = Cli({"inspect", dir.Join("badfooter")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST(CliTest, VerifyDetectsAReplacedContentMember) {
  Sample s = MakeSample();
  TempDir dir;
  t::WriteFile(dir.Join("in.tar"), s.tar);
  // Level 0 (stored blocks): a member's size depends only on its content's size, so a member
  // with different content of the same length can be swapped in without moving anything.
  ASSERT_EQ(Cli({"layer", "--level", "0", dir.Join("in.tar"), dir.Join("blob")}).exit_code, 0);
  std::string blob = t::ReadFile(dir.Join("blob"));
  RunResult j = Cli({"inspect", "--json", dir.Join("blob")});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  uint64_t off = 0, len = 0;
  for (const auto& e : doc["entries"]) {
    if (e["path"] == "app/config") {
      off = e["chunks"][0]["offset"];
      len = e["chunks"][0]["length"];
    }
  }
  ASSERT_GT(len, 0u);
  std::string forged_content = s.files["app/config"];
  forged_content[8] = '9';  // setting=9
  std::string member;
  gzip::MemberCompressor(0).Compress(forged_content, &member);
  ASSERT_EQ(member.size(), len);
  std::string forged = blob;
  forged.replace(off, len, member);
  t::WriteFile(dir.Join("forged"), forged);
  // Still a perfectly valid gzip stream; only the file content differs.
  std::string tar = t::GunzipOrThrow(forged);
  EXPECT_NE(tar, s.tar);
  EXPECT_NE(tar.find("setting=9"), std::string::npos);
  // Reading the embedded ToC alone cannot notice; --verify must.
  EXPECT_EQ(Cli({"inspect", dir.Join("forged")}).exit_code, 0);
  RunResult v = Cli({"inspect", "--verify", dir.Join("forged")});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_TRUE(OneLine(v.err)) << v.err;
  EXPECT_NE(v.err.find("corruption"), std::string::npos) << v.err;
}

class CliBadInputTest : public ::testing::TestWithParam<t::BadInput> {};

TEST_P(CliBadInputTest, ExitsOneWithOneLineAndNoOutput) {
  const t::BadInput& bad = GetParam();
  TempDir in, out;
  t::WriteFile(in.Join("layer"), bad.bytes);
  RunResult r = Cli({"layer", in.Join("layer"), out.Join("blob.tar.gz"), "--toc", out.Join("toc")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(OneLine(r.err)) << r.err;
  EXPECT_NE(r.err.find(bad.message), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::string(CodeName(bad.code))), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  EXPECT_TRUE(t::ListDir(out.path()).empty()) << "output or temporary file left behind";
}

INSTANTIATE_TEST_SUITE_P(Catalogue, CliBadInputTest, ::testing::ValuesIn(t::BadInputs()),
                         [](const ::testing::TestParamInfo<t::BadInput>& i) { return i.param.name; });

TEST(CliTest, UsageErrorsExitThree) {
  TempDir dir;
  t::WriteFile(dir.Join("in.tar"), MakeSample().tar);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"layer"},
           {"layer", dir.Join("in.tar")},
           {"layer", dir.Join("in.tar"), dir.Join("o"), "--level", "13"},
           {"layer", dir.Join("in.tar"), dir.Join("o"), "--level", "fast"},
           {"layer", dir.Join("in.tar"), dir.Join("o"), "-j", "-1"},
           {"layer", dir.Join("in.tar"), dir.Join("o"), "--bogus"},
           {"inspect"},
           {"frobnicate"}}) {
    RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 3) << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  EXPECT_EQ(t::ListDir(dir.path()), std::vector<std::string>{"in.tar"});
  RunResult help = Cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("layer"), std::string::npos);
  EXPECT_EQ(Cli({"layer", "--help"}).exit_code, 0);
  EXPECT_EQ(Cli({"--version"}).exit_code, 0);
}

TEST(CliTest, MissingInputIsAnError) {
  TempDir dir;
  RunResult r = Cli({"layer", dir.Join("nope.tar.gz"), dir.Join("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(OneLine(r.err)) << r.err;
  EXPECT_NE(r.err.find("nope.tar.gz"), std::string::npos) << r.err;
  EXPECT_TRUE(t::ListDir(dir.path()).empty());
}

// A gzip bomb: a tar entry of 1 GiB of zeros in about 1 MB of gzip. The stream is built from
// one compressed 16 MiB run of zeros repeated as consecutive members (a valid multi-member
// gzip), so making it costs one small compression, not a gigabyte.
std::string MakeBomb(uint64_t zeros) {
  const uint64_t kRun = 16ull << 20;
  std::string run = t::GzipCompress(std::string(kRun, '\0'), 9);
  t::Header h;
  h.name = "bomb";
  h.size = zeros;
  std::string bomb = t::GzipCompress(t::EncodeHeader(h));
  for (uint64_t left = zeros; left > 0; left -= kRun) {
    if (left < kRun) throw std::runtime_error("zeros must be a multiple of 16 MiB");
    bomb += run;
  }
  bomb += t::GzipCompress(std::string(1024, '\0'));
  return bomb;
}

TEST(CliTest, GzipBombIsRefusedAboveTheLimit) {
  TempDir in, out;
  t::WriteFile(in.Join("bomb.gz"), MakeBomb(1ull << 30));
  RunResult r = Cli({"layer", in.Join("bomb.gz"), out.Join("blob"), "--max-tar-size", "67108864"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(OneLine(r.err)) << r.err;
  EXPECT_NE(r.err.find("invalid argument"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exceeds the limit of 67108864 bytes"), std::string::npos) << r.err;
  EXPECT_TRUE(t::ListDir(out.path()).empty());
}

// Converting 1 GiB takes seconds (longer under sanitizers, whose allocator also changes RSS):
// Slow*, so the sanitizer CI run skips it.
TEST(SlowCliTest, GzipBombWithoutLimitKeepsMemoryBounded) {
  TempDir in, out;
  const std::string bomb = MakeBomb(1ull << 30);
  t::WriteFile(in.Join("bomb.gz"), bomb);
  // ASan's quarantine would otherwise keep up to 256 MB of freed chunks alive in sanitizer
  // builds; the limit is about the converter's own buffers.
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string asan_options = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                             "quarantine_size_mb=16";
  t::RunOptions options;
  options.env = {{"ASAN_OPTIONS", asan_options}};
  RunResult r = Cli({"layer", in.Join("bomb.gz"), out.Join("blob"), "-j", "2"}, options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RecordProperty("max_rss_kb", std::to_string(r.max_rss_kb));
  EXPECT_GT(r.max_rss_kb, 0);
  EXPECT_LT(r.max_rss_kb, 300 * 1024) << "peak RSS " << r.max_rss_kb << " KB";
  RunResult j = Cli({"inspect", "--json", out.Join("blob")});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  ASSERT_EQ(doc["entries"].size(), 1u);
  EXPECT_EQ(doc["entries"][0]["size"], 1ull << 30);
  EXPECT_EQ(doc["entries"][0]["chunks"].size(), 256u);
  EXPECT_EQ(doc["tar_size"], 512 + (1ull << 30) + 1024);
}

}  // namespace
}  // namespace starlight
