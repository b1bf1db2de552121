#include "core/tar/tar.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/io/reader.h"
#include "tests/testing/tar_builder.h"

namespace starlight::tar {
namespace {

using starlight::testing::Header;
using starlight::testing::Magic;
using starlight::testing::PaxRecord;
using starlight::testing::PseudoRandomBytes;
using starlight::testing::TarBuilder;

struct Parsed {
  Status status;
  std::vector<Entry> entries;
  std::vector<std::string> contents;  // stored content of each entry
  std::string rebuilt;                // metadata and content, in stream order
};

// Parses everything; content is read in odd-sized pieces. The metadata sink and the content
// together must give back the input.
Parsed ParseAll(std::string_view tar, bool read_content = true) {
  Parsed p;
  auto src = io::NewStringSource(tar);
  Reader r(src.get(), [&](std::string_view b) {
    p.rebuilt.append(b);
    return Status::Ok();
  });
  for (;;) {
    Entry e;
    auto more = r.Next(&e);
    if (!more.ok()) {
      p.status = more.status();
      return p;
    }
    if (!*more) break;
    std::string content;
    if (read_content) {
      char buf[777];
      for (;;) {
        auto n = r.ReadData(buf, sizeof buf);
        if (!n.ok()) {
          p.status = n.status();
          return p;
        }
        if (*n == 0) break;
        content.append(buf, *n);
        p.rebuilt.append(buf, *n);
      }
      EXPECT_EQ(r.data_remaining(), 0u);
    }
    p.entries.push_back(e);
    p.contents.push_back(content);
  }
  EXPECT_EQ(r.offset(), tar.size());
  Entry dummy;
  auto again = r.Next(&dummy);  // stays at the end
  EXPECT_TRUE(again.ok() && !*again);
  return p;
}

Parsed ParseOk(std::string_view tar) {
  Parsed p = ParseAll(tar);
  EXPECT_TRUE(p.status.ok()) << p.status.ToString();
  if (p.status.ok()) {
    EXPECT_EQ(p.rebuilt, tar) << "bytes were lost or reordered";
  }
  return p;
}

TEST(NormalizePathTest, Cases) {
  struct Case {
    const char* in;
    const char* out;
  } ok[] = {
      {"./a/b", "a/b"}, {"a/../b", "b"},  {"./", "."},         {".", "."},
      {"a//b/", "a/b"}, {"a/./b/.", "a/b"}, {"dir/", "dir"},   {"a/b/../../c", "c"},
      {"..a/b..", "..a/b.."}, {"a/..", "."},
  };
  for (const auto& c : ok) {
    auto r = NormalizePath(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.out) << c.in;
  }
  for (const char* bad : {"../x", "/etc", "a/../../x", "..", "./../x", "/", "a/b/../../.."}) {
    auto r = NormalizePath(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(NormalizePath(std::string("a\0b", 3)).ok());
}

TEST(TarReaderTest, UstarEntryTypes) {
  TarBuilder b;
  Header dev;
  dev.name = "dev/null";
  dev.typeflag = '3';
  dev.mode = 0666;
  dev.devmajor = 1;
  dev.devminor = 3;
  Header blk = dev;
  blk.name = "dev/sda";
  blk.typeflag = '4';
  blk.devmajor = 8;
  blk.devminor = 0;
  Header fifo;
  fifo.name = "run/fifo";
  fifo.typeflag = '6';
  fifo.mode = 0600;
  Header file;
  file.name = "./etc/hosts";
  file.mode = 04755;
  file.uid = 0;
  file.gid = 42;
  file.uname = "root";
  file.gname = "shadow";
  file.mtime = 1234567890;
  b.Dir("./etc/", 0755)
      .Add(file, "127.0.0.1 localhost\n")
      .Symlink("etc/link", "../somewhere/else")
      .Hardlink("etc/hard", "./etc/hosts")
      .Add(dev)
      .Add(blk)
      .Add(fifo)
      .File("empty", "")
      .End();
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 8u);
  const Entry& d = p.entries[0];
  EXPECT_EQ(d.path, "etc");
  EXPECT_EQ(d.type, EntryType::kDirectory);
  EXPECT_EQ(d.mode, 0755u);
  EXPECT_EQ(d.size, 0u);
  const Entry& f = p.entries[1];
  EXPECT_EQ(f.path, "etc/hosts");
  EXPECT_EQ(f.type, EntryType::kRegular);
  EXPECT_EQ(f.typeflag, '0');
  EXPECT_EQ(f.mode, 04755u);
  EXPECT_EQ(f.uid, 0u);
  EXPECT_EQ(f.gid, 42u);
  EXPECT_EQ(f.uname, "root");
  EXPECT_EQ(f.gname, "shadow");
  EXPECT_EQ(f.mtime_sec, 1234567890);
  EXPECT_EQ(f.mtime_nsec, 0u);
  EXPECT_EQ(f.size, 20u);
  EXPECT_EQ(f.header_offset, 512u);
  EXPECT_EQ(f.data_offset, 1024u);
  EXPECT_EQ(f.data_size, 20u);
  EXPECT_EQ(p.contents[1], "127.0.0.1 localhost\n");
  EXPECT_FALSE(f.sparse);
  EXPECT_EQ(p.entries[2].type, EntryType::kSymlink);
  EXPECT_EQ(p.entries[2].linkname, "../somewhere/else");  // verbatim
  EXPECT_EQ(p.entries[3].type, EntryType::kHardlink);
  EXPECT_EQ(p.entries[3].linkname, "etc/hosts");  // normalised
  EXPECT_EQ(p.entries[4].type, EntryType::kCharDevice);
  EXPECT_EQ(p.entries[4].devmajor, 1u);
  EXPECT_EQ(p.entries[4].devminor, 3u);
  EXPECT_EQ(p.entries[5].type, EntryType::kBlockDevice);
  EXPECT_EQ(p.entries[5].devmajor, 8u);
  EXPECT_EQ(p.entries[6].type, EntryType::kFifo);
  EXPECT_EQ(p.entries[6].mode, 0600u);
  EXPECT_EQ(p.entries[7].type, EntryType::kRegular);
  EXPECT_EQ(p.entries[7].size, 0u);
  for (EntryType t : {EntryType::kRegular, EntryType::kHardlink, EntryType::kSymlink,
                      EntryType::kCharDevice, EntryType::kBlockDevice, EntryType::kDirectory,
                      EntryType::kFifo, EntryType::kOther}) {
    EXPECT_FALSE(EntryTypeName(t).empty());
  }
}

TEST(TarReaderTest, UstarPrefixAndV7) {
  TarBuilder b;
  Header h;
  h.prefix = std::string(150, 'p');
  h.name = "name.txt";
  Header v7;
  v7.magic = Magic::kV7;
  v7.name = "old/";
  v7.typeflag = '\0';
  Header v7file;
  v7file.magic = Magic::kV7;
  v7file.name = "old/file";
  v7file.typeflag = '\0';
  b.Add(h, "x").Add(v7).Add(v7file, "v7 data").End();
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.entries[0].path, std::string(150, 'p') + "/name.txt");
  EXPECT_EQ(p.entries[1].type, EntryType::kDirectory);
  EXPECT_EQ(p.entries[1].path, "old");
  EXPECT_EQ(p.entries[1].uname, "");  // v7 has no user names
  EXPECT_EQ(p.entries[2].type, EntryType::kRegular);
  EXPECT_EQ(p.contents[2], "v7 data");
}

TEST(TarReaderTest, PaxOverrides) {
  const std::string long_path = std::string(120, 'd') + "/" + std::string(200, 'f');
  const std::string long_link = "/" + std::string(250, 'l');
  const std::string cap("\x01\x00\x00\x02\xff\x00\x00\x00\n=\x00", 11);  // binary, with '=' and '\n'
  TarBuilder b;
  b.Pax({{"path", long_path},
         {"uid", "4294967296"},
         {"gid", "2097152"},
         {"uname", "a-very-long-user-name-longer-than-32-bytes"},
         {"gname", "grp"},
         {"mtime", "1700000000.123456789"},
         {"SCHILY.xattr.user.comment", "hello"},
         {"SCHILY.xattr.security.capability", cap},
         {"LIBARCHIVE.xattr.user.ignored", "aGVsbG8="},
         {"atime", "1.5"}});
  b.File("short-name-ignored", "content of a long-named file");
  b.Pax({{"linkpath", long_link}, {"mtime", "-1.25"}});
  b.Symlink("sym", "short");
  b.Pax({{"size", "5000"}});
  Header sized;
  sized.name = "sized";
  sized.size = 0;  // PAX size wins
  b.Add(sized, std::string(5000, 's'), /*keep_size=*/true);
  b.Pax({{"mtime", "1700000000.5"}});
  b.Dir("d/");
  b.Pax({{"SCHILY.devmajor", "300"}, {"SCHILY.devminor", "70000"}});
  Header dev;
  dev.name = "bigdev";
  dev.typeflag = '3';
  b.Add(dev);
  b.End();
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 5u);
  const Entry& f = p.entries[0];
  EXPECT_EQ(f.path, long_path);
  EXPECT_EQ(f.uid, 4294967296u);
  EXPECT_EQ(f.gid, 2097152u);
  EXPECT_EQ(f.uname, "a-very-long-user-name-longer-than-32-bytes");
  EXPECT_EQ(f.gname, "grp");
  EXPECT_EQ(f.mtime_sec, 1700000000);
  EXPECT_EQ(f.mtime_nsec, 123456789u);
  ASSERT_EQ(f.xattrs.size(), 2u);
  EXPECT_EQ(f.xattrs[0], (std::pair<std::string, std::string>{"user.comment", "hello"}));
  EXPECT_EQ(f.xattrs[1], (std::pair<std::string, std::string>{"security.capability", cap}));
  EXPECT_EQ(f.header_offset, 0u);
  EXPECT_EQ(p.contents[0], "content of a long-named file");
  EXPECT_EQ(p.entries[1].linkname, long_link);
  EXPECT_EQ(p.entries[1].mtime_sec, -2);
  EXPECT_EQ(p.entries[1].mtime_nsec, 750000000u);
  EXPECT_EQ(p.entries[2].size, 5000u);
  EXPECT_EQ(p.contents[2], std::string(5000, 's'));
  EXPECT_EQ(p.entries[3].mtime_nsec, 500000000u);
  EXPECT_EQ(p.entries[4].devmajor, 300u);
  EXPECT_EQ(p.entries[4].devminor, 70000u);
}

TEST(TarReaderTest, GlobalPaxAppliesToLaterEntries) {
  TarBuilder b;
  b.Pax({{"uname", "global-user"}}, 'g');
  b.File("a", "1").Pax({{"uname", "local"}}).File("b", "2").File("c", "3").End();
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.entries[0].uname, "global-user");
  EXPECT_EQ(p.entries[1].uname, "local");
  EXPECT_EQ(p.entries[2].uname, "global-user");
}

TEST(TarReaderTest, GnuLongNameAndLink) {
  const std::string name = "gnu/" + std::string(300, 'n');
  const std::string target = "gnu/" + std::string(200, 't');
  TarBuilder b;
  Header h;
  h.magic = Magic::kGnu;
  h.name = name.substr(0, 100);
  b.GnuLong('L', name).Add(h, "long");
  Header l;
  l.magic = Magic::kGnu;
  l.typeflag = '1';
  l.name = "x";
  l.linkname = target.substr(0, 100);
  b.GnuLong('L', name + "-link").GnuLong('K', target).Add(l);
  b.End();
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[0].path, name);
  EXPECT_EQ(p.entries[0].header_offset, 0u);
  EXPECT_EQ(p.contents[0], "long");
  EXPECT_EQ(p.entries[1].path, name + "-link");
  EXPECT_EQ(p.entries[1].linkname, target);
  EXPECT_EQ(p.entries[1].type, EntryType::kHardlink);
}

TEST(TarReaderTest, Base256Numbers) {
  TarBuilder b;
  Header h;
  h.name = "b256";
  h.base256_size = true;
  h.uid = uint64_t{1} << 40;  // does not fit in 7 octal digits
  h.mtime = -100;             // negative: base-256 two's complement
  b.Add(h, "base-256 sized content").End();
  ASSERT_EQ(static_cast<uint8_t>(b.bytes()[124]), 0x80);
  Parsed p = ParseOk(b.bytes());
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].size, 22u);
  EXPECT_EQ(p.entries[0].uid, uint64_t{1} << 40);
  EXPECT_EQ(p.entries[0].mtime_sec, -100);
  EXPECT_EQ(p.contents[0], "base-256 sized content");
}

std::vector<SparseSpan> Spans(int n, uint64_t stride, uint64_t len) {
  std::vector<SparseSpan> v;
  for (int i = 0; i < n; ++i) v.push_back({static_cast<uint64_t>(i) * stride, len});
  return v;
}

TEST(TarReaderTest, OldGnuSparseWithExtensionBlocks) {
  for (int spans : {1, 4, 6, 30}) {
    auto map = Spans(spans, 8192, 700);
    std::string stored = PseudoRandomBytes(700 * spans, spans);
    uint64_t realsize = 8192ull * spans + 5000;
    TarBuilder b;
    Header h;
    h.name = "sparse/file";
    b.OldGnuSparse(h, map, realsize, stored).File("after", "next").End();
    Parsed p = ParseOk(b.bytes());
    ASSERT_EQ(p.entries.size(), 2u) << spans;
    const Entry& e = p.entries[0];
    EXPECT_TRUE(e.sparse);
    EXPECT_EQ(e.typeflag, 'S');
    EXPECT_EQ(e.type, EntryType::kRegular);
    EXPECT_EQ(e.sparse_map, map);
    EXPECT_EQ(e.size, realsize);
    EXPECT_EQ(e.data_size, stored.size());
    uint64_t ext_blocks = spans > 4 ? (spans - 4 + 20) / 21 : 0;
    EXPECT_EQ(e.data_offset, 512 * (1 + ext_blocks));
    EXPECT_EQ(p.contents[0], stored);
    EXPECT_EQ(p.contents[1], "next");
  }
}

TEST(TarReaderTest, PaxSparseFormats) {
  auto map = Spans(5, 4096, 100);
  std::string stored = PseudoRandomBytes(500, 77);
  {  // 1.0: map in the data area (metadata), name from GNU.sparse.name
    TarBuilder b;
    Header h;
    h.name = "dir/sparse10";
    b.PaxSparse10(h, map, 30000, stored).End();
    Parsed p = ParseOk(b.bytes());
    ASSERT_EQ(p.entries.size(), 1u);
    const Entry& e = p.entries[0];
    EXPECT_EQ(e.path, "dir/sparse10");
    EXPECT_TRUE(e.sparse);
    EXPECT_EQ(e.sparse_map, map);
    EXPECT_EQ(e.size, 30000u);
    EXPECT_EQ(e.data_size, 500u);
    EXPECT_EQ(p.contents[0], stored);
    // header @0 pax data @512, entry header @1024, map block @1536, data @2048
    EXPECT_EQ(e.data_offset, 2048u);
  }
  {  // 0.1: GNU.sparse.map
    TarBuilder b;
    b.Pax({{"GNU.sparse.major", "0"}, {"GNU.sparse.minor", "1"}, {"GNU.sparse.name", "s01"},
           {"GNU.sparse.size", "30000"},
           {"GNU.sparse.map", "0,100,4096,100,8192,100,12288,100,16384,100"}});
    b.File("GNUSparseFile.1/s01", stored).End();
    Parsed p = ParseOk(b.bytes());
    ASSERT_EQ(p.entries.size(), 1u);
    EXPECT_EQ(p.entries[0].path, "s01");
    EXPECT_EQ(p.entries[0].sparse_map, map);
    EXPECT_EQ(p.entries[0].size, 30000u);
    EXPECT_EQ(p.contents[0], stored);
  }
  {  // 0.0: repeated offset/numbytes records
    std::string recs = PaxRecord("GNU.sparse.size", "30000");
    for (const auto& s : map) {
      recs += PaxRecord("GNU.sparse.offset", std::to_string(s.offset));
      recs += PaxRecord("GNU.sparse.numbytes", std::to_string(s.length));
    }
    TarBuilder b;
    b.Pax(recs).File("s00", stored).End();
    Parsed p = ParseOk(b.bytes());
    ASSERT_EQ(p.entries.size(), 1u);
    EXPECT_EQ(p.entries[0].sparse_map, map);
    EXPECT_EQ(p.entries[0].size, 30000u);
  }
}

TEST(TarReaderTest, EndOfArchiveVariants) {
  TarBuilder base;
  base.File("a", "alpha").Dir("d/");
  {
    Parsed p = ParseOk(base.bytes());  // no end-of-archive blocks at all
    EXPECT_EQ(p.entries.size(), 2u);
  }
  {
    TarBuilder b = base;
    b.End(1);
    EXPECT_EQ(ParseOk(b.bytes()).entries.size(), 2u);
  }
  {
    TarBuilder b = base;
    b.End(2).Raw(std::string(10240 - 2048, '\0')).Raw("trailing garbage, kept verbatim");
    Parsed p = ParseOk(b.bytes());
    EXPECT_EQ(p.entries.size(), 2u);
  }
  {
    // Stops at the first zero block: a header after it is trailing data, not an entry.
    TarBuilder b = base;
    b.End(2).File("hidden", "after the end");
    EXPECT_EQ(ParseOk(b.bytes()).entries.size(), 2u);
  }
}

TEST(TarReaderTest, UnreadContentIsSkipped) {
  TarBuilder b;
  b.File("a", std::string(100000, 'a')).File("b", "bee").End();
  Parsed p = ParseAll(b.bytes(), /*read_content=*/false);
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[1].path, "b");
  EXPECT_EQ(p.entries[1].data_offset, 512u + 100352u + 512u);
}

void ExpectError(std::string_view tar, Code code, std::string_view want) {
  Parsed p = ParseAll(tar);
  EXPECT_EQ(p.status.code(), code) << p.status.ToString();
  EXPECT_NE(p.status.message().find(want), std::string::npos) << p.status.message();
  EXPECT_EQ(p.status.message().find('\n'), std::string::npos);
}

TEST(TarReaderTest, Errors) {
  TarBuilder good;
  good.File("a", "alpha").File("big", std::string(2000, 'b')).End();
  const std::string& g = good.bytes();
  ExpectError(g.substr(0, 1024 + 300), Code::kCorruption, "truncated tar: header at offset 1024");
  ExpectError(g.substr(0, 1536 + 999), Code::kCorruption,
              "truncated tar: content of 'big' ends at offset 2535 with 1001 bytes missing");
  ExpectError(g.substr(0, 1536 + 2010), Code::kCorruption, "truncated tar: padding");
  {
    Header h;
    h.name = "bad";
    h.corrupt_checksum = true;
    TarBuilder b;
    b.File("ok", "").Add(h).End();
    ExpectError(b.bytes(), Code::kCorruption, "bad header checksum at offset 512");
  }
  {
    TarBuilder b;
    b.File("../escape", "x").End();
    ExpectError(b.bytes(), Code::kInvalidArgument, "tar entry '../escape' at offset 0");
  }
  {
    TarBuilder b;
    b.Dir("d/").Pax({{"path", "d/../../x"}}).File("d/x", "x").End();
    ExpectError(b.bytes(), Code::kInvalidArgument, "tar entry 'd/../../x' at offset 1536");
  }
  {
    TarBuilder b;
    b.File("/abs", "x").End();
    ExpectError(b.bytes(), Code::kInvalidArgument, "absolute path '/abs'");
  }
  {
    TarBuilder b;
    b.Hardlink("l", "a/../../t").End();
    ExpectError(b.bytes(), Code::kInvalidArgument, "hard link target 'a/../../t'");
    TarBuilder c;
    c.Hardlink("l", "/etc/shadow").End();
    ExpectError(c.bytes(), Code::kInvalidArgument, "hard link target '/etc/shadow'");
    TarBuilder d;
    d.Hardlink("l", "./").End();
    ExpectError(d.bytes(), Code::kInvalidArgument, "hard link target");
  }
  for (std::string bad : {std::string("5 a=b\n"), std::string("x path=y\n"),
                          std::string("100 path=short\n"), std::string("9 path=x"),
                          std::string("0 a=b\n")}) {
    TarBuilder b;
    b.Pax(bad).File("f", "").End();
    ExpectError(b.bytes(), Code::kCorruption, "malformed PAX record");
  }
  {
    TarBuilder b;
    b.Pax(PaxRecord("mtime", "12x")).File("f", "").End();
    ExpectError(b.bytes(), Code::kCorruption, "bad PAX mtime");
    TarBuilder c;
    c.Pax(PaxRecord("size", "-1")).File("f", "").End();
    ExpectError(c.bytes(), Code::kCorruption, "bad PAX size");
  }
  {
    Header h;
    h.name = "huge";
    h.typeflag = 'x';
    h.size = kMaxMetadataRecord + 1;
    TarBuilder b;
    b.Add(h, "", true);
    ExpectError(b.bytes(), Code::kCorruption, "exceeds the limit");
    h.typeflag = 'L';
    TarBuilder c;
    c.Add(h, "", true);
    ExpectError(c.bytes(), Code::kCorruption, "GNU long name of");
  }
  {
    TarBuilder b;
    b.Pax({{"path", "x"}}).End();
    ExpectError(b.bytes(), Code::kCorruption, "zero block after an extension record at offset 1024");
    TarBuilder c;
    c.File("a", "").Pax({{"path", "x"}});
    ExpectError(c.bytes(), Code::kCorruption, "extension record at offset 512 has no entry after it");
  }
  {
    TarBuilder b;
    Header h;
    h.name = "s";
    b.OldGnuSparse(h, {{0, 100}, {1000, 100}}, 5000, std::string(150, 'x')).End();
    ExpectError(b.bytes(), Code::kCorruption, "sparse map of 's' does not match its data size");
    TarBuilder c;
    c.OldGnuSparse(h, {{0, 100}, {4990, 100}}, 5000, std::string(200, 'x')).End();
    ExpectError(c.bytes(), Code::kCorruption, "sparse map of 's' lies outside the file");
    Header u;
    u.name = "s";
    u.typeflag = 'S';  // ustar magic: not GNU
    TarBuilder d;
    d.Add(u, "x").End();
    ExpectError(d.bytes(), Code::kCorruption, "sparse entry without GNU magic");
  }
  {
    TarBuilder b;
    Header h;
    h.name = "";
    b.Add(h, "x").End();
    ExpectError(b.bytes(), Code::kCorruption, "empty name at offset 0");
  }
}

TEST(TarReaderTest, HostileHeadersNeverCrash) {
  // Random single-byte corruptions of a feature-rich archive: any result is fine but a crash.
  TarBuilder b;
  b.Pax({{"path", std::string(200, 'p')}, {"SCHILY.xattr.user.x", "y"}}).File("p", "pp");
  Header h;
  h.name = "s";
  b.OldGnuSparse(h, Spans(6, 1000, 10), 8000, std::string(60, 's'));
  b.PaxSparse10(h, Spans(3, 1000, 10), 5000, std::string(30, 't'));
  b.GnuLong('L', std::string(150, 'L')).File("x", "y").End();
  const std::string tar = b.bytes();
  ASSERT_TRUE(ParseAll(tar).status.ok());
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 3000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string t = tar;
    t[x % t.size()] = static_cast<char>(x >> 32);
    (void)ParseAll(t);
  }
}

}  // namespace
}  // namespace starlight::tar
