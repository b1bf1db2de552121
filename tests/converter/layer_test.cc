// Converter tests over every tar feature (hand-made bytes, libarchive, GNU tar on real files),
// hostile inputs, gzip bombs and a file over 8 GiB (SlowLayerTest, excluded from sanitizer CI).
#include "converter/layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/format.h"
#include "core/seekable/reader.h"
#include "core/seekable/writer.h"
#include "core/toc/toc.h"
#include "tests/converter/layer_checks.h"
#include "tests/testing/bad_inputs.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight::converter {
namespace {

using seekable::kChunkSize;
using tar::EntryType;
using tar::SparseSpan;
namespace t = starlight::testing;
using t::Header;
using t::Magic;
using t::PseudoRandomBytes;
using t::TarBuilder;
using t::Want;

struct CaseData {
  std::string tar;
  std::vector<Want> want;  // strict expectations, or
  t::Loose loose;          // loose ones (archives written by tools)
  bool strict = true;
};

struct Case {
  const char* name;
  std::function<CaseData()> make;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<SparseSpan> Spans(int n, uint64_t stride, uint64_t len, uint64_t first = 0) {
  std::vector<SparseSpan> v;
  for (int i = 0; i < n; ++i) v.push_back({first + static_cast<uint64_t>(i) * stride, len});
  return v;
}

CaseData PaxLongNames() {
  const std::string dir = "usr/share/" + std::string(140, 'd');
  const std::string file = dir + "/" + std::string(180, 'f') + ".txt";
  const std::string sym_target = "../../" + std::string(300, 't');
  CaseData c;
  TarBuilder b;
  b.Pax({{"path", dir + "/"}}).Dir("PaxHeaders/dir");
  b.Pax({{"path", file}}).File("truncated-name", "long-named content\n");
  b.Pax({{"linkpath", sym_target}}).Symlink(std::string(90, 's'), "ignored");
  b.Pax({{"path", dir + "/hard"}, {"linkpath", file}}).Hardlink("x", "ignored");
  b.End();
  c.tar = b.bytes();
  c.want = {t::WantDir(dir), t::WantFile(file, "long-named content\n"),
            t::WantSymlink(std::string(90, 's'), sym_target), t::WantHardlink(dir + "/hard", file)};
  return c;
}

CaseData PaxXattrs() {
  const std::string cap("\x01\x00\x00\x02\x00\x30\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                        20);
  const std::string binary("\xff\xfe\n=\x00 \x80", 7);
  CaseData c;
  TarBuilder b;
  b.Pax({{"SCHILY.xattr.security.capability", cap},
         {"SCHILY.xattr.user.mime_type", "text/plain"},
         {"SCHILY.xattr.trusted.binary", binary}});
  b.File("usr/bin/ping", "ELF...", 0755);
  b.Pax({{"SCHILY.xattr.user.dir", "on a directory"}}).Dir("etc/");
  b.Pax({{"SCHILY.xattr.user.empty", ""}}).File("e", "");
  b.End();
  c.tar = b.bytes();
  Want ping = t::WantFile("usr/bin/ping", "ELF...", 0755);
  ping.xattrs = {{"security.capability", cap}, {"user.mime_type", "text/plain"}, {"trusted.binary", binary}};
  Want etc = t::WantDir("etc");
  etc.xattrs = {{"user.dir", "on a directory"}};
  Want e = t::WantFile("e", "");
  e.xattrs = {{"user.empty", ""}};
  c.want = {ping, etc, e};
  return c;
}

CaseData PaxLargeUidAndSize() {
  CaseData c;
  TarBuilder b;
  const std::string content = PseudoRandomBytes(70000, 11, true);
  b.Pax({{"uid", "2097152"}, {"gid", "4294967295"}, {"uname", std::string(40, 'u')},
         {"gname", std::string(40, 'g')}, {"size", std::to_string(content.size())}});
  Header h;
  h.name = "big-ids";
  h.size = 0;  // the PAX size wins
  b.Add(h, content, /*keep_size=*/true);
  b.Pax({{"uid", "18446744073709551615"}}).File("max-uid", "m");
  b.End();
  c.tar = b.bytes();
  Want w = t::WantFile("big-ids", content);
  w.uid = 2097152;
  w.gid = 4294967295u;
  w.uname = std::string(40, 'u');
  w.gname = std::string(40, 'g');
  Want m = t::WantFile("max-uid", "m");
  m.uid = UINT64_MAX;
  c.want = {w, m};
  return c;
}

CaseData SubSecondMtime() {
  CaseData c;
  TarBuilder b;
  b.Pax({{"mtime", "1700000000.123456789"}}).File("ns", "1");
  b.Pax({{"mtime", "1700000000.5"}}).File("half", "2");
  b.Pax({{"mtime", "1700000000.1234567891234"}}).File("sub-ns", "3");  // beyond ns: truncated
  b.Pax({{"mtime", "-1.25"}}).File("before-epoch", "4");
  b.Pax({{"mtime", "42"}}).File("whole", "5");
  b.End();
  c.tar = b.bytes();
  auto w = [](const char* p, const char* content, int64_t s, uint32_t ns) {
    Want x = t::WantFile(p, content);
    x.mtime = s;
    x.mtime_nsec = ns;
    return x;
  };
  c.want = {w("ns", "1", 1700000000, 123456789), w("half", "2", 1700000000, 500000000),
            w("sub-ns", "3", 1700000000, 123456789), w("before-epoch", "4", -2, 750000000),
            w("whole", "5", 42, 0)};
  return c;
}

CaseData GnuLongNames() {
  const std::string name = "gnu/" + std::string(200, 'n') + "/file";
  const std::string target = "gnu/" + std::string(150, 'k');
  CaseData c;
  TarBuilder b;
  Header d;
  d.magic = Magic::kGnu;
  d.name = "gnu/";
  d.typeflag = '5';
  d.mode = 0755;
  b.Add(d);
  Header f;
  f.magic = Magic::kGnu;
  f.name = name.substr(0, 100);
  b.GnuLong('L', name).Add(f, "gnu long name data");
  Header s;
  s.magic = Magic::kGnu;
  s.typeflag = '2';
  s.mode = 0777;
  s.name = "gnu/sym";
  s.linkname = target.substr(0, 100);
  b.GnuLong('K', target).Add(s);
  Header h = s;
  h.typeflag = '1';
  h.mode = 0644;
  h.name = name.substr(0, 100);
  h.linkname = name.substr(0, 100);
  b.GnuLong('L', name + ".link").GnuLong('K', name).Add(h);
  b.End();
  c.tar = b.bytes();
  c.want = {t::WantDir("gnu"), t::WantFile(name, "gnu long name data"),
            t::WantSymlink("gnu/sym", target), t::WantHardlink(name + ".link", name)};
  return c;
}

CaseData OldGnuSparse() {
  CaseData c;
  TarBuilder b;
  auto six = Spans(6, 1 << 20, 3000, 4096);  // 4 spans in the header + an extension block
  auto many = Spans(50, 65536, 512);         // 3 extension blocks
  std::string s6 = PseudoRandomBytes(6 * 3000, 21), s50 = PseudoRandomBytes(50 * 512, 22, true);
  Header h;
  h.name = "var/sparse6";
  b.OldGnuSparse(h, six, 7 << 20, s6);
  h.name = "var/sparse50";
  b.OldGnuSparse(h, many, 50 * 65536, s50);
  h.name = "var/allhole";
  b.OldGnuSparse(h, {{1 << 30, 0}}, 1 << 30, "");
  b.End();
  c.tar = b.bytes();
  auto w = [](std::string p, std::vector<SparseSpan> m, uint64_t size, std::string stored) {
    Want x = t::WantFile(std::move(p), std::move(stored));
    x.typeflag = 'S';
    x.sparse = true;
    x.sparse_map = std::move(m);
    x.size = size;
    return x;
  };
  c.want = {w("var/sparse6", six, 7 << 20, s6), w("var/sparse50", many, 50 * 65536, s50),
            w("var/allhole", {{1 << 30, 0}}, 1 << 30, "")};
  return c;
}

CaseData PaxSparse10() {
  CaseData c;
  TarBuilder b;
  auto map = Spans(7, 100000, 1000, 0);
  std::string stored = PseudoRandomBytes(7000, 31);
  Header h;
  h.name = "opt/db.sparse";
  b.PaxSparse10(h, map, 1 << 20, stored).File("after", "still aligned").End();
  c.tar = b.bytes();
  Want w = t::WantFile("opt/db.sparse", stored);
  w.sparse = true;
  w.sparse_map = map;
  w.size = 1 << 20;
  c.want = {w, t::WantFile("after", "still aligned")};
  return c;
}

CaseData SpecialEntries() {
  CaseData c;
  TarBuilder b;
  Header chr;
  chr.name = "dev/null";
  chr.typeflag = '3';
  chr.mode = 0666;
  chr.devmajor = 1;
  chr.devminor = 3;
  Header blk;
  blk.name = "dev/loop0";
  blk.typeflag = '4';
  blk.mode = 0660;
  blk.devmajor = 7;
  blk.devminor = 0;
  Header fifo;
  fifo.name = "run/initctl";
  fifo.typeflag = '6';
  fifo.mode = 0600;
  Header contig;  // '7': contiguous file, a regular file to every reader
  contig.name = "contig";
  contig.typeflag = '7';
  b.Dir("./").Dir("dev/").Add(chr).Add(blk).Dir("run/", 01777).Add(fifo);
  b.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n").Hardlink("etc/passwd-", "./etc/passwd");
  b.Hardlink("etc/passwd.bak", "etc/passwd").Symlink("etc/mtab", "/proc/self/mounts");
  b.Symlink("lib", "usr/lib").Symlink("dangling", "does/not/exist").Add(contig, "contiguous");
  b.End();
  c.tar = b.bytes();
  Want wc = t::WantDir(".");
  auto node = [](std::string path, EntryType type, char flag, uint32_t mode) {
    Want w;
    w.path = std::move(path);
    w.type = type;
    w.typeflag = flag;
    w.mode = mode;
    return w;
  };
  Want n = node("dev/null", EntryType::kCharDevice, '3', 0666);
  n.devmajor = 1;
  n.devminor = 3;
  Want l = node("dev/loop0", EntryType::kBlockDevice, '4', 0660);
  l.devmajor = 7;
  Want f = node("run/initctl", EntryType::kFifo, '6', 0600);
  Want ct = t::WantFile("contig", "contiguous");
  ct.typeflag = '7';
  c.want = {wc,
            t::WantDir("dev"),
            n,
            l,
            t::WantDir("run", 01777),
            f,
            t::WantFile("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            t::WantHardlink("etc/passwd-", "etc/passwd"),
            t::WantHardlink("etc/passwd.bak", "etc/passwd"),
            t::WantSymlink("etc/mtab", "/proc/self/mounts"),
            t::WantSymlink("lib", "usr/lib"),
            t::WantSymlink("dangling", "does/not/exist"),
            ct};
  return c;
}

CaseData Whiteouts() {
  CaseData c;
  TarBuilder b;
  b.Dir("etc/").File("etc/.wh.motd", "", 0).Dir("var/cache/").File("var/cache/.wh..wh..opq", "", 0);
  b.File(".wh.tmp", "", 0).End();
  c.tar = b.bytes();
  c.want = {t::WantDir("etc"), t::WantFile("etc/.wh.motd", "", 0), t::WantDir("var/cache"),
            t::WantFile("var/cache/.wh..wh..opq", "", 0), t::WantFile(".wh.tmp", "", 0)};
  return c;
}

CaseData EmptyFiles() {
  CaseData c;
  TarBuilder b;
  b.File("a", "").File("b", "").File("c", "x").File("d", "").File("e", std::string(512, 'e'));
  b.File("f", "").End();
  c.tar = b.bytes();
  c.want = {t::WantFile("a", ""), t::WantFile("b", ""), t::WantFile("c", "x"), t::WantFile("d", ""),
            t::WantFile("e", std::string(512, 'e')), t::WantFile("f", "")};
  return c;
}

CaseData NonUtf8Names() {
  CaseData c;
  TarBuilder b;
  b.Dir("d\xff\xfe/").File("caf\xe9", "latin-1 name").File("d\xff\xfe/\x80\x81", "bytes");
  b.Symlink("link\xc3", "caf\xe9").Pax({{"path", "pax-\xe9\xe9"}}).File("x", "pax bytes");
  b.End();
  c.tar = b.bytes();
  c.want = {t::WantDir("d\xff\xfe"), t::WantFile("caf\xe9", "latin-1 name"),
            t::WantFile("d\xff\xfe/\x80\x81", "bytes"), t::WantSymlink("link\xc3", "caf\xe9"),
            t::WantFile("pax-\xe9\xe9", "pax bytes")};
  return c;
}

CaseData NoEndOfArchive() {
  CaseData c;
  TarBuilder b;
  b.Dir("d/").File("d/last", "no end-of-archive blocks follow");
  c.tar = b.bytes();
  c.want = {t::WantDir("d"), t::WantFile("d/last", "no end-of-archive blocks follow")};
  return c;
}

CaseData OneZeroBlock() {
  CaseData c;
  TarBuilder b;
  b.File("f", "one zero block only").End(1);
  c.tar = b.bytes();
  c.want = {t::WantFile("f", "one zero block only")};
  return c;
}

CaseData TrailingBytes() {
  CaseData c;
  TarBuilder b;
  b.File("f", "data").End(2).Raw(std::string(10240 - 2048, '\0'));
  b.Raw("trailing bytes after the end-of-archive blocks are kept verbatim\n");
  b.Raw(PseudoRandomBytes((4 << 20) + 1000, 5));  // more than one metadata member of trailing data
  c.tar = b.bytes();
  c.want = {t::WantFile("f", "data")};
  return c;
}

CaseData LargeFileChunks() {
  CaseData c;
  TarBuilder b;
  std::string big = PseudoRandomBytes(kChunkSize, 41) + PseudoRandomBytes(kChunkSize, 42, true) +
                    PseudoRandomBytes(12345, 43);
  std::string exact = PseudoRandomBytes(kChunkSize, 44, true);
  std::string plus1 = std::string(kChunkSize + 1, 'z');
  b.File("big", big).File("exact", exact).File("plus1", plus1).End();
  c.tar = b.bytes();
  c.want = {t::WantFile("big", big), t::WantFile("exact", exact), t::WantFile("plus1", plus1)};
  return c;
}

CaseData Base256Size() {
  CaseData c;
  TarBuilder b;
  Header h;
  h.name = "b256";
  h.base256_size = true;
  h.uid = uint64_t{1} << 33;  // base-256 uid too (over 7 octal digits)
  std::string content = PseudoRandomBytes(9999, 51, true);
  b.Add(h, content).File("after", "x").End();
  c.tar = b.bytes();
  Want w = t::WantFile("b256", content);
  w.uid = uint64_t{1} << 33;
  c.want = {w, t::WantFile("after", "x")};
  return c;
}

CaseData UstarPrefixAndV7() {
  CaseData c;
  TarBuilder b;
  Header p;
  p.prefix = "usr/share/doc/" + std::string(100, 'p');
  p.name = "copyright";
  Header v7;
  v7.magic = Magic::kV7;
  v7.typeflag = '\0';
  v7.name = "v7file";
  b.Add(p, "prefix").Add(v7, "seventh edition").End();
  c.tar = b.bytes();
  Want v = t::WantFile("v7file", "seventh edition");
  v.typeflag = '\0';
  v.uname = v.gname = "";
  c.want = {t::WantFile(p.prefix + "/copyright", "prefix"), v};
  return c;
}

CaseData GlobalPax() {
  CaseData c;
  TarBuilder b;
  b.Pax({{"comment", "global header"}, {"uname", "everyone"}}, 'g');
  b.File("a", "1").File("b", "2").End();
  c.tar = b.bytes();
  Want a = t::WantFile("a", "1"), bb = t::WantFile("b", "2");
  a.uname = bb.uname = "everyone";
  c.want = {a, bb};
  return c;
}

std::vector<t::ArchiveEntrySpec> LibarchiveSpecs(bool xattrs) {
  std::vector<t::ArchiveEntrySpec> v;
  auto add = [&](std::string path, unsigned type) -> t::ArchiveEntrySpec& {
    v.push_back({});
    v.back().path = std::move(path);
    v.back().filetype = type;
    return v.back();
  };
  add("root/", 0040000).perm = 0755;
  auto& f = add("root/file.txt", 0100000);
  f.content = PseudoRandomBytes(30000, 61, true);
  f.mtime_nsec = 250000000;
  if (xattrs) f.xattrs = {{"user.origin", "libarchive"}, {"security.capability", std::string("\x01\x00\x02", 3)}};
  add("root/" + std::string(150, 'L') + "/deep.txt", 0100000).content = "long path via libarchive";
  add("root/empty", 0100000);
  add("root/link", 0120000).symlink = "file.txt";
  add("root/hard", 0100000).hardlink = "root/file.txt";
  auto& d = add("root/tty0", 0020000);
  d.devmajor = 4;
  d.devminor = 0;
  add("root/fifo", 0010000);
  add("root/big", 0100000).content = PseudoRandomBytes(kChunkSize + 100, 62);
  return v;
}

t::Loose LibarchiveLoose(bool xattrs) {
  t::Loose l;
  for (const auto& s : LibarchiveSpecs(xattrs)) {
    std::string p = s.path.back() == '/' ? s.path.substr(0, s.path.size() - 1) : s.path;
    l.paths.insert(p);
    if (s.filetype == 0100000 && s.hardlink.empty()) l.files[p] = s.content;
    if (!s.xattrs.empty()) l.xattrs[p] = s.xattrs;
  }
  return l;
}

CaseData Libarchive(t::ArchiveFormat format, bool xattrs) {
  CaseData c;
  c.tar = t::WriteWithLibarchive(format, LibarchiveSpecs(xattrs));
  c.loose = LibarchiveLoose(xattrs);
  c.strict = false;
  return c;
}

// A real directory tree archived by GNU tar. `sparse_file` gets 7 data runs separated by holes
// (more than the 4 spans an old GNU header holds).
CaseData GnuTar(const std::vector<std::string>& flags) {
  CaseData c;
  c.strict = false;
  t::TempDir dir;
  std::string root = dir.Join("root");
  EXPECT_EQ(::mkdir(root.c_str(), 0755), 0);
  auto write = [&](const std::string& rel, const std::string& data) {
    t::WriteFile(root + "/" + rel, data);
    c.loose.files[rel] = data;
    c.loose.paths.insert(rel);
  };
  c.loose.paths.insert(".");
  EXPECT_EQ(::mkdir((root + "/sub").c_str(), 0750), 0);
  c.loose.paths.insert("sub");
  write("sub/plain.txt", PseudoRandomBytes(20000, 71, true));
  write("empty", "");
  const std::string long_name = "sub/" + std::string(120, 'x') + "/" + std::string(110, 'y');
  EXPECT_EQ(::mkdir((root + "/sub/" + std::string(120, 'x')).c_str(), 0755), 0);
  c.loose.paths.insert("sub/" + std::string(120, 'x'));
  write(long_name, "long name from GNU tar");
  EXPECT_EQ(::symlink("sub/plain.txt", (root + "/link").c_str()), 0);
  c.loose.paths.insert("link");
  EXPECT_EQ(::link((root + "/sub/plain.txt").c_str(), (root + "/hard").c_str()), 0);
  c.loose.paths.insert("hard");
  // --sort=name: "hard" comes first and holds the data, "sub/plain.txt" links to it.
  c.loose.files["hard"] = c.loose.files["sub/plain.txt"];
  c.loose.files.erase("sub/plain.txt");
  EXPECT_EQ(::mkfifo((root + "/fifo").c_str(), 0644), 0);
  c.loose.paths.insert("fifo");
  // The sparse file: 7 x 4 KiB of data, 60 KiB holes, a hole at the end.
  std::string logical(7 * 65536 + 100000, '\0');
  {
    std::string path = root + "/sparse";
    t::WriteFile(path, "");
    FILE* f = std::fopen(path.c_str(), "r+b");
    for (int i = 0; i < 7; ++i) {
      std::string run = PseudoRandomBytes(4096, 80 + i);
      std::copy(run.begin(), run.end(), logical.begin() + i * 65536);
      std::fseek(f, i * 65536, SEEK_SET);
      std::fwrite(run.data(), 1, run.size(), f);
    }
    std::fclose(f);
    EXPECT_EQ(::truncate(path.c_str(), static_cast<off_t>(logical.size())), 0);
    c.loose.paths.insert("sparse");
    c.loose.files["sparse"] = logical;
    c.loose.sparse.insert("sparse");
  }
  if (::setxattr((root + "/empty").c_str(), "user.test", "xattr\nvalue", 11, 0) == 0) {
    c.loose.xattrs["empty"] = {{"user.test", "xattr\nvalue"}};
  }
  std::vector<std::string> argv = {"tar", "--sort=name", "-C", root, "-cf", dir.Join("out.tar")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(".");
  auto r = t::Run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  c.tar = t::ReadFile(dir.Join("out.tar"));
  if (std::find(flags.begin(), flags.end(), "--xattrs") == flags.end()) c.loose.xattrs.clear();
  return c;
}

const Case kCases[] = {
    {"PaxLongNames", PaxLongNames},
    {"PaxXattrs", PaxXattrs},
    {"PaxLargeUidAndSize", PaxLargeUidAndSize},
    {"SubSecondMtime", SubSecondMtime},
    {"GnuLongNames", GnuLongNames},
    {"OldGnuSparse", OldGnuSparse},
    {"PaxSparse10", PaxSparse10},
    {"SpecialEntries", SpecialEntries},
    {"Whiteouts", Whiteouts},
    {"EmptyFiles", EmptyFiles},
    {"NonUtf8Names", NonUtf8Names},
    {"NoEndOfArchive", NoEndOfArchive},
    {"OneZeroBlock", OneZeroBlock},
    {"TrailingBytes", TrailingBytes},
    {"LargeFileChunks", LargeFileChunks},
    {"Base256Size", Base256Size},
    {"UstarPrefixAndV7", UstarPrefixAndV7},
    {"GlobalPax", GlobalPax},
    {"LibarchivePax", [] { return Libarchive(t::ArchiveFormat::kPax, true); }},
    {"LibarchivePaxRestricted", [] { return Libarchive(t::ArchiveFormat::kPaxRestricted, true); }},
    {"LibarchiveGnuTar", [] { return Libarchive(t::ArchiveFormat::kGnuTar, false); }},
    {"LibarchiveUstar", [] { return Libarchive(t::ArchiveFormat::kUstar, false); }},
    {"GnuTarGnuFormatSparse", [] { return GnuTar({"--format=gnu", "--sparse"}); }},
    {"GnuTarPaxFormatSparse10",
     [] { return GnuTar({"--format=pax", "--sparse", "--xattrs", "--xattrs-include=*"}); }},
    {"GnuTarPaxSparse01", [] { return GnuTar({"--format=pax", "--sparse", "--sparse-version=0.1"}); }},
    {"GnuTarPaxSparse00", [] { return GnuTar({"--format=pax", "--sparse", "--sparse-version=0.0"}); }},
};

class TarFeatureTest : public ::testing::TestWithParam<Case> {};

TEST_P(TarFeatureTest, ConvertsFaithfully) {
  CaseData c = GetParam().make();
  ASSERT_FALSE(c.tar.empty());
  std::string blob = t::CheckConversion(c.tar);
  ASSERT_FALSE(blob.empty());
  auto embedded = seekable::ReadEmbeddedToc(*io::NewStringReader(blob));
  ASSERT_TRUE(embedded.ok()) << embedded.status().ToString();
  if (c.strict) {
    t::CheckWant(c.tar, embedded->toc, c.want);
  } else {
    t::CheckLoose(c.tar, embedded->toc, c.loose);
  }
}

INSTANTIATE_TEST_SUITE_P(Features, TarFeatureTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The GNU-format sparse case really exercises the old GNU 'S' type with extension blocks, and
// the PAX one GNU's sparse 1.0 layout (so the cases above cannot silently degrade).
TEST(GnuTarSparseTest, ArchivesUseTheIntendedEncodings) {
  CaseData gnu = GnuTar({"--format=gnu", "--sparse"});
  bool found_s = false;
  for (size_t off = 0; off + 512 <= gnu.tar.size(); off += 512) {
    if (gnu.tar[off + 156] == 'S' && gnu.tar.compare(off + 257, 6, "ustar ") == 0) {
      found_s = true;
      EXPECT_EQ(gnu.tar[off + 482], 1) << "expected an extension block";
    }
  }
  EXPECT_TRUE(found_s);
  CaseData pax = GnuTar({"--format=pax", "--sparse"});
  EXPECT_NE(pax.tar.find("GNU.sparse.major=1"), std::string::npos);
  EXPECT_NE(pax.tar.find("GNUSparseFile."), std::string::npos);
}

// ---- file level: ConvertLayerFile ----

TEST(ConvertLayerFileTest, WritesBlobAndTocAtomically) {
  t::TempDir in_dir, out_dir;
  CaseData c = SpecialEntries();
  std::string in = in_dir.Join("layer.tar.gz");
  t::WriteFile(in, t::GzipCompress(c.tar));
  LayerOptions o;
  o.input = in;
  o.output = out_dir.Join("blob");
  o.toc_path = out_dir.Join("toc.bin");
  o.threads = 2;
  auto r = ConvertLayerFile(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(t::ListDir(out_dir.path()), (std::vector<std::string>{"blob", "toc.bin"}));
  std::string blob = t::ReadFile(o.output);
  EXPECT_EQ(blob, t::ConvertBytes(c.tar).blob);
  EXPECT_EQ(t::ReadFile(o.toc_path), r->result.encoded_toc);
  EXPECT_TRUE(r->result.input_gzip);
  EXPECT_EQ(r->result.output_bytes, blob.size());
  std::string report = DescribeReport(o, *r);
  EXPECT_NE(report.find("13 entries"), std::string::npos) << report;
  EXPECT_EQ(report.find('\n'), std::string::npos);
  EXPECT_NE(report.find(r->result.blob_digest.ToString()), std::string::npos);

  std::ostringstream summary, json;
  ASSERT_TRUE(Inspect({.blob = o.output, .json = false, .verify = true}, summary).ok());
  EXPECT_NE(summary.str().find("verified"), std::string::npos);
  EXPECT_NE(summary.str().find("etc/passwd- => etc/passwd"), std::string::npos) << summary.str();
  ASSERT_TRUE(Inspect({.blob = o.output, .json = true, .verify = false}, json).ok());
  EXPECT_NE(json.str().find("\"entries\""), std::string::npos);
}

class BadInputTest : public ::testing::TestWithParam<t::BadInput> {};

TEST_P(BadInputTest, FailsCleanlyAndLeavesNothing) {
  const t::BadInput& bad = GetParam();
  t::TempDir in_dir, out_dir;
  LayerOptions o;
  o.input = in_dir.Join("input");
  t::WriteFile(o.input, bad.bytes);
  o.output = out_dir.Join("blob.tar.gz");
  o.toc_path = out_dir.Join("toc");
  auto r = ConvertLayerFile(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), bad.code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(bad.message), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  EXPECT_NE(r.status().message().find(o.input), std::string::npos) << "names the input";
  EXPECT_TRUE(t::ListDir(out_dir.path()).empty()) << "no output, no temporary file left";
  // The same through the streaming API (no files at all).
  auto src = io::NewStringSource(bad.bytes);
  struct NullSink : io::ByteSink {
    Status Append(std::string_view d) override {
      n += d.size();
      return Status::Ok();
    }
    uint64_t BytesWritten() const override { return n; }
    uint64_t n = 0;
  } sink;
  auto s = seekable::ConvertLayer(src.get(), &sink, {});
  EXPECT_EQ(s.status().code(), bad.code) << s.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputTest, ::testing::ValuesIn(t::BadInputs()),
                         [](const ::testing::TestParamInfo<t::BadInput>& i) { return i.param.name; });

TEST(ConvertLayerFileTest, MissingInputAndUnwritableOutput) {
  t::TempDir dir;
  LayerOptions o;
  o.input = dir.Join("missing.tar");
  o.output = dir.Join("out");
  auto r = ConvertLayerFile(o);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("missing.tar"), std::string::npos);
  t::WriteFile(dir.Join("in.tar"), t::GzipCompress(SpecialEntries().tar));
  o.input = dir.Join("in.tar");
  o.output = dir.Join("no/such/dir/out");
  EXPECT_FALSE(ConvertLayerFile(o).ok());
  EXPECT_EQ(t::ListDir(dir.path()), std::vector<std::string>{"in.tar"});
}

// ---- gzip bombs and huge files (generated on the fly, never held in memory) ----

TEST(GzipBombTest, MaxTarSizeStopsAHugeFile) {
  // 2 GiB of zeros inside a tar entry, gzipped on the fly (about 2 MB compressed).
  t::GzipSource bomb(t::NewZeroFileTar("bomb", 2ull << 30), 1);
  struct CountingSink : io::ByteSink {
    Status Append(std::string_view d) override {
      n += d.size();
      return Status::Ok();
    }
    uint64_t BytesWritten() const override { return n; }
    uint64_t n = 0;
  } sink;
  seekable::WriterOptions o;
  o.max_tar_size = 64ull << 20;
  auto r = seekable::ConvertLayer(&bomb, &sink, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("exceeds the limit of 67108864 bytes"), std::string::npos)
      << r.status().message();
}

TEST(GzipBombTest, MaxTarSizeStopsPlainZeros) {
  // No tar header at all: zeros are an end-of-archive marker followed by "trailing bytes".
  t::GzipSource bomb(std::make_unique<t::SyntheticSource>("", 2ull << 30, ""), 1);
  struct NullSink : io::ByteSink {
    Status Append(std::string_view) override { return Status::Ok(); }
    uint64_t BytesWritten() const override { return 0; }
  } sink;
  seekable::WriterOptions o;
  o.max_tar_size = 64ull << 20;
  auto r = seekable::ConvertLayer(&bomb, &sink, o);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
}

TEST(SlowLayerTest, FileOver8GiB) {
  const uint64_t size = (8ull << 30) + 1;  // needs a base-256 size field
  auto tar = t::NewZeroFileTar("huge/zeros", size);
  const uint64_t tar_size = tar->total();
  {
    char header[512];
    auto probe = t::NewZeroFileTar("huge/zeros", size);
    ASSERT_TRUE(io::ReadFull(probe.get(), header, sizeof header, "header").ok());
    ASSERT_EQ(static_cast<uint8_t>(header[124]), 0x80) << "base-256 size field";
  }
  t::TempDir dir;
  std::string path = dir.Join("huge.tar.gz");
  {
    auto w = io::AtomicFileWriter::Create(path);
    ASSERT_TRUE(w.ok());
    auto r = seekable::ConvertLayer(tar.get(), w->get(), {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE((*w)->Commit().ok());
    EXPECT_EQ(r->toc.tar_size, tar_size);
  }
  auto reader = io::OpenFileReader(path);
  ASSERT_TRUE(reader.ok());
  EXPECT_LT((*reader)->Size(), 64u << 20) << "zeros compress about 1000:1";
  // The scan re-derives everything from the blob (inflating all 8 GiB) and must agree.
  auto v = seekable::VerifyLayer(**reader);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const toc::Toc& toc = v->embedded.toc;
  ASSERT_EQ(toc.entries.size(), 1u);
  const toc::Entry& e = toc.entries[0];
  EXPECT_EQ(e.meta.path, "huge/zeros");
  EXPECT_EQ(e.meta.size, size);
  EXPECT_EQ(e.meta.data_size, size);
  EXPECT_EQ(e.meta.data_offset, 512u);
  EXPECT_EQ(toc.tar_size, tar_size);
  ASSERT_EQ(e.chunks.size(), (size + kChunkSize - 1) / kChunkSize);
  const digest::Digest zero_chunk = digest::Sha256Of(std::string(kChunkSize, '\0'));
  uint64_t off = 0, blob_off = e.chunks[0].compressed_offset;
  for (size_t i = 0; i < e.chunks.size(); ++i) {
    const toc::Chunk& c = e.chunks[i];
    ASSERT_EQ(c.file_offset, off);
    ASSERT_EQ(c.compressed_offset, blob_off);
    if (i + 1 < e.chunks.size()) {
      ASSERT_EQ(c.size, kChunkSize);
      ASSERT_EQ(c.digest, zero_chunk);
    } else {
      ASSERT_EQ(c.size, 1u);
      ASSERT_EQ(c.digest, digest::Sha256Of(std::string(1, '\0')));
    }
    off += c.size;
    blob_off += c.compressed_size;
  }
  // The whole-file digest, computed here independently.
  digest::Sha256 h;
  std::string zeros(kChunkSize, '\0');
  for (uint64_t left = size; left > 0;) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
    h.Update(zeros.data(), k);
    left -= k;
  }
  EXPECT_EQ(e.digest, h.Finish());
}

}  // namespace
}  // namespace starlight::converter
