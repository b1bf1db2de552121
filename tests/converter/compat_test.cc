// The converted blob is read by real tools exactly like the original: gzip -dc, zcat, pigz,
// Python's gzip module, bsdtar and libarchive's read API, GNU tar, and Go's compress/gzip +
// archive/tar (what containerd and Docker use; built here from gocheck/main.go).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/digest/digest.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight {
namespace {

namespace t = starlight::testing;
using t::RunResult;

// One archive with every feature the converter must carry through.
std::string FeatureArchive() {
  t::TarBuilder b;
  b.Dir("./").Dir("etc/");
  b.Pax({{"path", "etc/" + std::string(150, 'p') + "/" + std::string(120, 'q')},
         {"mtime", "1700000000.123456789"},
         {"SCHILY.xattr.user.comment", "pax xattr"},
         {"SCHILY.xattr.security.capability", std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8)},
         {"uid", "3000000"}});
  b.File("etc/pax-truncated", "pax long name content\n");
  b.GnuLong('L', "etc/" + std::string(200, 'g'));
  t::Header g;
  g.magic = t::Magic::kGnu;
  g.name = "etc/gnu-truncated";
  b.Add(g, "gnu long name content\n");
  t::Header k = g;
  k.name = "etc/gnu-link";
  k.typeflag = '2';
  k.mode = 0777;
  b.GnuLong('K', std::string(180, 'k')).Add(k);
  t::Header s;
  s.name = "var/old-gnu-sparse";
  std::vector<tar::SparseSpan> spans;
  // As GNU tar writes them: block-aligned data runs (GNU tar itself cannot extract others), and
  // a file that ends in a hole has a final empty span at its size.
  for (int i = 0; i < 7; ++i) spans.push_back({static_cast<uint64_t>(i) * 10240, 1024});
  spans.push_back({80000, 0});
  b.OldGnuSparse(s, spans, 80000, t::PseudoRandomBytes(7 * 1024, 1));
  s.name = "var/pax-sparse";
  spans.back().offset = 90000;
  b.PaxSparse10(s, spans, 90000, t::PseudoRandomBytes(7 * 1024, 2));
  b.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n").Hardlink("etc/passwd-", "etc/passwd");
  b.Symlink("etc/mtab", "/proc/self/mounts");
  t::Header dev;
  dev.name = "dev/null";
  dev.typeflag = '3';
  dev.devmajor = 1;
  dev.devminor = 3;
  b.Add(dev);
  dev.name = "dev/sda";
  dev.typeflag = '4';
  dev.devmajor = 8;
  dev.devminor = 0;
  b.Add(dev);
  t::Header fifo;
  fifo.name = "run/fifo";
  fifo.typeflag = '6';
  b.Add(fifo);
  b.File("etc/.wh.motd", "", 0).File("var/.wh..wh..opq", "", 0).File("empty", "");
  b.File(std::string("caf\xe9", 4), "non-UTF-8 name");
  t::Header b256;
  b256.name = "base256";
  b256.base256_size = true;
  b.Add(b256, "base-256 size field");
  b.File("big", t::PseudoRandomBytes((4 << 20) + 100000, 3, true));  // two chunks
  b.End().Raw(std::string(10240, '\0'));                  // record padding
  return b.bytes();
}

class CompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    tar_ = new std::string(FeatureArchive());
    t::WriteFile(Path("orig.tar"), *tar_);
    t::WriteFile(Path("orig.tar.gz"), t::GzipCompress(*tar_));
    RunResult r = t::Run({SL_CONVERT_BINARY, "layer", "-q", Path("orig.tar.gz"), Path("blob.tar.gz")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Go: built at most once per test binary, offline, with its caches in the temp dir.
  static void BuildGo() {
    if (go_tried_) return;
    go_tried_ = true;
    std::string home = Path("gohome");
    t::RunOptions go_env;
    go_env.env = {{"HOME", home},          {"GOCACHE", home + "/cache"}, {"GOPATH", home + "/path"},
                  {"GO111MODULE", "off"},  {"GOFLAGS", ""},              {"GOPROXY", "off"},
                  {"CGO_ENABLED", "0"}};
    RunResult go = t::Run({"go", "build", "-o", Path("gocheck"), SL_GOCHECK_SOURCE}, go_env);
    go_built_ = go.exit_code == 0;
    go_error_ = new std::string(go.err);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tar_;
    delete go_error_;
    go_error_ = nullptr;
    go_tried_ = go_built_ = false;
  }
  static std::string Path(const std::string& name) { return dir_->Join(name); }
  static std::string Sha256Hex(const std::string& s) { return digest::Sha256Of(s).Hex(); }
  // sha256sum of a command's standard output (streamed, never held here).
  static std::string ShaOfOutput(const std::string& cmd, const std::string& file) {
    RunResult r = t::RunShell(cmd + " \"$1\" | sha256sum | cut -d' ' -f1", {file});
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    return r.out.substr(0, 64);
  }

  static t::TempDir* dir_;
  static std::string* tar_;
  static bool go_tried_, go_built_;
  static std::string* go_error_;
};

t::TempDir* CompatTest::dir_ = nullptr;
std::string* CompatTest::tar_ = nullptr;
bool CompatTest::go_tried_ = false;
bool CompatTest::go_built_ = false;
std::string* CompatTest::go_error_ = nullptr;

TEST_F(CompatTest, BlobIsAMultiMemberGzip) {
  std::string blob = t::ReadFile(Path("blob.tar.gz"));
  EXPECT_GT(t::ListMembers(blob).size(), 10u);
  EXPECT_NE(blob, t::ReadFile(Path("orig.tar.gz")));
}

TEST_F(CompatTest, GzipDc) {
  EXPECT_EQ(ShaOfOutput("gzip -dc", Path("blob.tar.gz")), Sha256Hex(*tar_));
  RunResult test = t::Run({"gzip", "-t", Path("blob.tar.gz")});
  EXPECT_EQ(test.exit_code, 0) << test.err;
  EXPECT_TRUE(test.err.empty()) << test.err;  // no "trailing garbage" warning either
}

TEST_F(CompatTest, Zcat) { EXPECT_EQ(ShaOfOutput("zcat", Path("blob.tar.gz")), Sha256Hex(*tar_)); }

TEST_F(CompatTest, Pigz) {
  if (t::FindProgram("pigz").empty()) GTEST_SKIP() << "pigz not installed";
  EXPECT_EQ(ShaOfOutput("pigz -dc", Path("blob.tar.gz")), Sha256Hex(*tar_));
}

TEST_F(CompatTest, PythonGzipModule) {
  EXPECT_EQ(ShaOfOutput("python3 -c 'import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())'",
                        Path("blob.tar.gz")),
            Sha256Hex(*tar_));
}

TEST_F(CompatTest, BsdtarListsAndExtractsTheSame) {
  RunResult a = t::Run({"bsdtar", "-tvf", Path("orig.tar")});
  RunResult b = t::Run({"bsdtar", "-tvf", Path("blob.tar.gz")});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.err, b.err);
  EXPECT_NE(b.out.find("etc/passwd- link to etc/passwd"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find(std::string(200, 'g')), std::string::npos);
  EXPECT_EQ(ShaOfOutput("bsdtar -xOf", Path("blob.tar.gz")), ShaOfOutput("bsdtar -xOf", Path("orig.tar")));
}

struct ArchiveItem {
  std::string path, symlink, hardlink;
  unsigned type;
  int64_t size;
  std::string content_sha;
  std::vector<std::pair<std::string, std::string>> xattrs;
  bool operator==(const ArchiveItem&) const = default;
};

std::vector<ArchiveItem> ReadWithLibarchive(const std::string& data) {
  std::vector<ArchiveItem> items;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_all(a.get());
  EXPECT_EQ(archive_read_open_memory(a.get(), data.data(), data.size()), ARCHIVE_OK);
  archive_entry* e;
  int rc;
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    ArchiveItem it;
    it.path = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    it.symlink = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
    it.hardlink = archive_entry_hardlink(e) ? archive_entry_hardlink(e) : "";
    it.type = archive_entry_filetype(e);
    it.size = archive_entry_size(e);
    digest::Sha256 h;
    const void* buf;
    size_t n;
    la_int64_t off;
    int64_t pos = 0;
    while (archive_read_data_block(a.get(), &buf, &n, &off) == ARCHIVE_OK) {
      // Sparse holes come back as gaps in the offsets: hash them as zeros.
      std::string zeros(static_cast<size_t>(off - pos), '\0');
      h.Update(zeros);
      h.Update(buf, n);
      pos = off + static_cast<int64_t>(n);
    }
    it.content_sha = h.Finish().Hex();
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      it.xattrs.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
    items.push_back(it);
  }
  EXPECT_EQ(rc, ARCHIVE_EOF) << archive_error_string(a.get());
  return items;
}

TEST_F(CompatTest, LibarchiveReadApiSeesTheSameEntries) {
  auto orig = ReadWithLibarchive(*tar_);
  auto conv = ReadWithLibarchive(t::ReadFile(Path("blob.tar.gz")));
  ASSERT_EQ(orig.size(), 19u);
  EXPECT_EQ(orig, conv);
  bool found = false;
  for (const auto& it : conv) {
    if (it.path == "etc/" + std::string(150, 'p') + "/" + std::string(120, 'q')) {
      found = true;
      EXPECT_EQ(it.content_sha, digest::Sha256Of("pax long name content\n").Hex());
      auto x = it.xattrs;
      std::sort(x.begin(), x.end());
      EXPECT_EQ(x, (std::vector<std::pair<std::string, std::string>>{
                       {"security.capability", std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8)},
                       {"user.comment", "pax xattr"}}));
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(CompatTest, GnuTarListsAndExtractsTheSame) {
  RunResult a = t::Run({"tar", "-tvf", Path("orig.tar")});
  RunResult b = t::Run({"tar", "-tvzf", Path("blob.tar.gz")});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  RunResult names = t::Run({"tar", "-tzf", Path("blob.tar.gz")});
  EXPECT_EQ(names.exit_code, 0) << names.err;
  EXPECT_EQ(std::count(names.out.begin(), names.out.end(), '\n'), 19);
  EXPECT_NE(names.out.find("var/pax-sparse"), std::string::npos) << names.out;
  // Extract both into directories (GNU tar cannot write a sparse file ending in a hole to a
  // pipe) and compare what landed on disk: names, types, modes, sizes, owners, link targets,
  // mtimes of non-directories and the content of every regular file.
  auto extract = [&](const std::string& archive, const std::string& dir) {
    RunResult x = t::RunShell(
        "mkdir \"$2\" && tar --numeric-owner -xpf \"$1\" -C \"$2\" && cd \"$2\" && "
        "{ find . -printf '%p %y %m %s %U %G %l\\n'; find . ! -type d -printf '%p %T@\\n';"
        "  find . -type f -exec sha256sum {} +; } | LC_ALL=C sort",
        {archive, Path(dir)});
    EXPECT_EQ(x.exit_code, 0) << x.err;
    return x.out;
  };
  std::string orig = extract(Path("orig.tar"), "gnu-orig");
  std::string conv = extract(Path("blob.tar.gz"), "gnu-conv");
  EXPECT_EQ(orig, conv);
  EXPECT_NE(conv.find("./var/old-gnu-sparse f 644 80000 1000 1000"), std::string::npos) << conv;
  EXPECT_NE(conv.find("./var/pax-sparse f 644 90000 1000 1000"), std::string::npos) << conv;
  EXPECT_NE(conv.find("./dev/null c 644 0"), std::string::npos) << conv;
}

TEST_F(CompatTest, GoArchiveTar) {
  BuildGo();
  ASSERT_TRUE(go_built_) << *go_error_;
  RunResult a = t::Run({Path("gocheck"), Path("orig.tar.gz")});
  RunResult b = t::Run({Path("gocheck"), Path("blob.tar.gz")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::count(b.out.begin(), b.out.end(), '\n'), 20);
  // The last line is the diffID.
  EXPECT_EQ(b.out.substr(b.out.size() - 65, 64), Sha256Hex(*tar_));
  // Go expands both sparse formats to their logical size.
  EXPECT_NE(b.out.find("\"var/old-gnu-sparse\" S 80000 80000"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("\"var/pax-sparse\" 0 90000 90000"), std::string::npos) << b.out;
}

}  // namespace
}  // namespace starlight
