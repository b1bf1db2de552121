// Tests of core/flatten: every changeset rule on hand-made ToCs, the encoding (round trip and
// damage), scale, and an oracle: real gzip layers unpacked by umoci compared with the tree.
#include "core/flatten/flatten.h"

#include <ftw.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/coding/coding.h"
#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/writer.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tar_builder.h"
#include "tests/testing/temp_dir.h"

namespace starlight::flatten {
namespace {

namespace t = starlight::testing;
using tar::EntryType;

// ---- ToC building helpers -------------------------------------------------------------------

toc::Entry Make(std::string path, EntryType type, uint32_t mode = 0644) {
  toc::Entry e;
  e.meta.path = std::move(path);
  e.meta.type = type;
  e.meta.mode = mode;
  e.meta.uid = 1000;
  e.meta.gid = 1000;
  e.meta.mtime_sec = 1700000000;
  return e;
}
toc::Entry Dir(std::string path, uint32_t mode = 0755) {
  return Make(std::move(path), EntryType::kDirectory, mode);
}
toc::Entry File(std::string path, std::string_view content = "x") {
  toc::Entry e = Make(std::move(path), EntryType::kRegular);
  e.meta.size = content.size();
  e.digest = digest::Sha256Of(content);
  return e;
}
toc::Entry Sym(std::string path, std::string target) {
  toc::Entry e = Make(std::move(path), EntryType::kSymlink, 0777);
  e.meta.linkname = std::move(target);
  return e;
}
toc::Entry Hard(std::string path, std::string target) {
  toc::Entry e = Make(std::move(path), EntryType::kHardlink);
  e.meta.linkname = std::move(target);
  return e;
}
toc::Entry Wh(std::string path) { return File(std::move(path), ""); }

// Owns the layers and gives the span Flatten takes.
struct Image {
  std::vector<toc::Toc> tocs;
  std::vector<const toc::Toc*> ptrs;
  Image() = default;
  Image(const Image&) = delete;  // ptrs point into tocs
  Image& operator=(const Image&) = delete;
  Image(std::initializer_list<std::vector<toc::Entry>> layers) {
    for (const auto& l : layers) {
      toc::Toc t;
      t.entries = l;
      tocs.push_back(std::move(t));
    }
    for (const auto& t : tocs) ptrs.push_back(&t);
  }
  std::span<const toc::Toc* const> span() const { return ptrs; }
};

// "path L:E" per node, "path *" for a synthetic directory, "path L:E->TL:TE" for a hard link.
std::string Describe(const MergedTree& tree) {
  std::string out;
  for (const Node& n : tree.nodes) {
    out += n.path;
    if (n.layer == kSynthetic) {
      out += " *";
    } else {
      out += " " + std::to_string(n.layer) + ":" + std::to_string(n.entry);
      if (n.target_layer != n.layer || n.target_entry != n.entry) {
        out += "->" + std::to_string(n.target_layer) + ":" + std::to_string(n.target_entry);
      }
    }
    out += "\n";
  }
  return out;
}

std::string Flat(const Image& image) {
  auto r = Flatten(image.span());
  if (!r.ok()) return "ERROR " + r.status().ToString();
  return Describe(*r);
}

Status FlattenStatus(const Image& image) {
  auto r = Flatten(image.span());
  return r.ok() ? Status::Ok() : r.status();
}

// ---- Rules ----------------------------------------------------------------------------------

TEST(FlattenTest, NoLayersGiveTheRootOnly) {
  Image image;
  EXPECT_EQ(Flat(image), ". *\n");
}

TEST(FlattenTest, RootEntryProvidesTheRoot) {
  Image image({{Dir(".", 0700), File("a")}, {Dir(".", 0750)}});
  EXPECT_EQ(Flat(image), ". 1:0\na 0:1\n");
}

TEST(FlattenTest, RootMustBeADirectory) {
  Image image({{File(".")}});
  Status s = FlattenStatus(image);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("layer 0 entry 0"), std::string::npos) << s.ToString();
}

TEST(FlattenTest, PreorderWithBytewiseNames) {
  // '-' < '.' < '/' in ASCII, but a directory's subtree comes right after it; 0xe9 sorts
  // after ASCII (unsigned bytes).
  Image image({{File("ab"), File("a.b"), Dir("a"), File("a-b"), File("a/b"), File("caf\xe9"),
                File("cafe"), File("B"), File("a/a/x")}});
  EXPECT_EQ(Flat(image),
            ". *\nB 0:7\na 0:2\na/a *\na/a/x 0:8\na/b 0:4\na-b 0:3\na.b 0:1\nab 0:0\n"
            "cafe 0:6\ncaf\xe9 0:5\n");
}

TEST(FlattenTest, ImpliedDirectoriesAreSynthesisedUntilAnEntryProvidesThem) {
  Image image({{File("x/y/z")}, {Dir("x", 0700)}});
  EXPECT_EQ(Flat(image), ". *\nx 1:0\nx/y *\nx/y/z 0:0\n");
  Image only({{File("x/y/z")}});
  auto tree = Flatten(only.span());
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->nodes[1], (Node{kSynthetic, 0, kSynthetic, 0, "x"}));
}

TEST(FlattenTest, LaterEntryOfTheSameLayerWins) {
  Image image(
      {{File("f", "1"), Dir("d"), File("d/a"), File("f", "2"), Dir("d", 0700), File("d/b")}});
  EXPECT_EQ(Flat(image), ". *\nd 0:4\nd/a 0:2\nd/b 0:5\nf 0:3\n");
}

TEST(FlattenTest, WhiteoutHidesLowerPathAndSubtree) {
  Image image({{Dir("a"), File("a/b"), File("a/c"), Dir("d"), Dir("d/e"), File("d/e/f")},
               {Wh("a/.wh.b"), Wh(".wh.d")}});
  EXPECT_EQ(Flat(image), ". *\na 0:0\na/c 0:2\n");
}

TEST(FlattenTest, WhiteoutNeverHidesItsOwnLayer) {
  // Before or after the entry in the tar stream: same result.
  Image after({{File("x", "old"), File("y", "old")}, {File("x", "new"), Wh(".wh.x"), Wh(".wh.y")}});
  EXPECT_EQ(Flat(after), ". *\nx 1:0\n");
  Image before({{File("x", "old")}, {Wh(".wh.x"), File("x", "new")}});
  EXPECT_EQ(Flat(before), ". *\nx 1:1\n");
  // Whiting out a lower directory while the same layer adds a child: the lower directory and
  // its children go, the new child stays below a synthesised directory.
  Image dir({{Dir("d", 0700), File("d/old")}, {File("d/new"), Wh(".wh.d")}});
  EXPECT_EQ(Flat(dir), ". *\nd *\nd/new 1:0\n");
}

TEST(FlattenTest, WhiteoutOfAMissingPathIsIgnoredAndCreatesNothing) {
  Image image({{File("a")}, {Wh("p/q/.wh.r"), Wh(".wh.zz"), Wh("a/.wh.b")}});
  EXPECT_EQ(Flat(image), ". *\na 0:0\n");
}

TEST(FlattenTest, OpaqueDirectoryHidesLowerChildrenOnly) {
  Image image({{Dir("d"), File("d/a"), Dir("d/b"), File("d/b/c"), File("e")},
               {Dir("d", 0700), File("d/new1"), Wh("d/.wh..wh..opq"), File("d/new2")}});
  EXPECT_EQ(Flat(image), ". *\nd 1:0\nd/new1 1:1\nd/new2 1:3\ne 0:4\n");
  // Without an entry for the directory itself it keeps its lower metadata.
  Image bare({{Dir("d"), File("d/a")}, {Wh("d/.wh..wh..opq")}});
  EXPECT_EQ(Flat(bare), ". *\nd 0:0\n");
  // At the root.
  Image root({{File("a"), Dir("b")}, {File("c"), Wh(".wh..wh..opq")}});
  EXPECT_EQ(Flat(root), ". *\nc 1:0\n");
}

TEST(FlattenTest, WhiteoutThenRecreateInAHigherLayer) {
  Image image({{Dir("x"), File("x/a")}, {Wh(".wh.x")}, {File("x/b")}});
  EXPECT_EQ(Flat(image), ". *\nx *\nx/b 2:0\n");
  Image as_file({{Dir("x"), File("x/a")}, {Wh(".wh.x")}, {File("x")}});
  EXPECT_EQ(Flat(as_file), ". *\nx 2:0\n");
}

TEST(FlattenTest, FileReplacesDirectoryAndItsSubtree) {
  Image image({{Dir("d"), File("d/a"), Dir("d/e"), File("d/e/f"), File("g")}, {File("d")}});
  EXPECT_EQ(Flat(image), ". *\nd 1:0\ng 0:4\n");
  Image back({{Dir("d"), File("d/a")}, {Sym("d", "g")}, {Dir("d", 0700)}});
  EXPECT_EQ(Flat(back), ". *\nd 2:0\n");  // an empty directory: the old children are gone
}

TEST(FlattenTest, DirectoryReplacesFile) {
  Image image({{File("f")}, {Dir("f"), File("f/g")}});
  EXPECT_EQ(Flat(image), ". *\nf 1:0\nf/g 1:1\n");
}

TEST(FlattenTest, ParentThatIsNotADirectoryIsRejected) {
  Image file({{File("f")}, {File("x"), File("f/g")}});
  Status s = FlattenStatus(file);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("layer 1 entry 1 \"f/g\""), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("parent \"f\" is not a directory"), std::string::npos);
  // umoci would write through the symlink (securejoin); the merged tree refuses it.
  Image symlink({{Dir("real"), Sym("lnk", "real")}, {File("lnk/b")}});
  EXPECT_EQ(FlattenStatus(symlink).code(), Code::kInvalidArgument);
  Image deep({{File("f")}, {File("f/g/h")}});
  EXPECT_EQ(FlattenStatus(deep).code(), Code::kInvalidArgument);
}

TEST(FlattenTest, HardLinkWithinALayer) {
  Image image({{File("a"), Hard("h", "a"), Sym("s", "a"), Hard("hs", "s")}});
  EXPECT_EQ(Flat(image), ". *\na 0:0\nh 0:1->0:0\nhs 0:3->0:2\ns 0:2\n");
}

TEST(FlattenTest, HardLinkAcrossLayersKeepsItsTargetWhenTheTargetPathChanges) {
  Image image({{File("a", "v1"), File("b", "b1")},
               {Hard("h", "a"), Hard("hb", "b")},
               {Wh(".wh.a"), File("b", "b2")}});
  EXPECT_EQ(Flat(image), ". *\nb 2:1\nh 1:0->0:0\nhb 1:1->0:1\n");
}

TEST(FlattenTest, HardLinkSeesTheStateAtItsPositionInTheLayer) {
  Image image({{File("a", "v1")}, {Hard("h1", "a"), File("a", "v2"), Hard("h2", "a")}});
  EXPECT_EQ(Flat(image), ". *\na 1:1\nh1 1:0->0:0\nh2 1:2->1:1\n");
}

TEST(FlattenTest, HardLinkChainsResolveToTheFinalEntry) {
  Image image({{File("a"), Hard("h1", "a")}, {Hard("h2", "h1")}, {Hard("h3", "h2"), File("h1")}});
  EXPECT_EQ(Flat(image), ". *\na 0:0\nh1 2:1\nh2 1:0->0:0\nh3 2:0->0:0\n");
}

TEST(FlattenTest, HardLinkToAMissingTargetIsRejected) {
  for (const Image& image : {Image({{File("a")}, {Hard("h", "b")}}),
                             Image({{Hard("h", "a"), File("a")}}),  // target comes later
                             Image({{File("a")}, {Wh(".wh.a"), Hard("h", "a")}}),
                             Image({{Dir("d"), File("d/f")}, {Hard("d", "d/f")}}),
                             Image({{Dir("d")}, {Hard("h", "d")}})}) {
    Status s = FlattenStatus(image);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("entry"), std::string::npos);
  }
  Status s = FlattenStatus(Image({{File("a")}, {File("x"), Hard("h", "b")}}));
  EXPECT_NE(s.message().find("layer 1 entry 1 \"h\": hard link target \"b\" does not exist"),
            std::string::npos)
      << s.ToString();
}

TEST(FlattenTest, MalformedPathsAreRejected) {
  for (const std::string& p : std::vector<std::string>{"", "a//b", "../x", "a/./b", "/abs",
                                                       ".wh.x/y", std::string("a\0b", 3)}) {
    EXPECT_EQ(FlattenStatus(Image({{File(p)}})).code(), Code::kInvalidArgument) << p;
  }
  EXPECT_EQ(FlattenStatus(Image({{Wh(".wh.")}})).code(), Code::kInvalidArgument);
  EXPECT_EQ(FlattenStatus(Image({{File(std::string(4097, 'a'))}})).code(), Code::kInvalidArgument);
  EXPECT_EQ(FlattenStatus(Image({{File(std::string(4096, 'a'))}})).code(), Code::kOk);
  EXPECT_EQ(FlattenStatus(Image({{File("a"), Hard("h", std::string(4097, 'a'))}})).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(FlattenStatus(Image({{Wh("a/.wh..")}})).code(), Code::kInvalidArgument);
}

TEST(FlattenTest, NonUtf8Names) {
  std::string name = "d\xff/f\xe9\x80";
  Image image({{Dir("d\xff"), File(name, "data"), Hard("h\xfe", name)}});
  auto tree = Flatten(image.span());
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(Describe(*tree), ". *\nd\xff 0:0\n" + name + " 0:1\nh\xfe 0:2->0:1\n");
  auto decoded = DecodeMergedTree(EncodeMergedTree(*tree), image.span());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, *tree);
  auto j = nlohmann::json::parse(MergedTreeToJson(*tree, image.span()));
  EXPECT_EQ(j[2]["path_base64"], "ZP8vZumA");
  EXPECT_EQ(j[3]["link_path_base64"], "ZP8vZumA");
}

TEST(FlattenTest, ResolveAndJson) {
  toc::Entry big = File("a/f", "hello");
  big.meta.mode = 0600;
  big.meta.uid = 7;
  Image image({{big, Sym("a/s", "f")}, {Hard("h", "a/f")}});
  auto tree = Flatten(image.span());
  ASSERT_TRUE(tree.ok());
  ASSERT_EQ(tree->nodes.size(), 5u);
  ResolvedNode root = Resolve(*tree, 0, image.span());
  EXPECT_EQ(root.entry, nullptr);
  EXPECT_EQ(root.target, nullptr);
  ResolvedNode h = Resolve(*tree, 4, image.span());
  EXPECT_EQ(h.entry, &image.tocs[1].entries[0]);
  EXPECT_EQ(h.target, &image.tocs[0].entries[0]);
  ResolvedNode f = Resolve(*tree, 2, image.span());
  EXPECT_EQ(f.entry, f.target);

  auto j = nlohmann::json::parse(MergedTreeToJson(*tree, image.span()));
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[0], nlohmann::json::parse(R"({"path":".","type":"dir","mode":493,"uid":0,"gid":0,
                                             "size":0,"mtime":0,"layer":-1})"));
  EXPECT_EQ(j[1]["path"], "a");
  EXPECT_EQ(j[1]["layer"], -1);
  EXPECT_EQ(j[2]["digest"], digest::Sha256Of("hello").ToString());
  EXPECT_EQ(j[2]["mode"], 0600);
  EXPECT_EQ(j[3]["linkname"], "f");
  EXPECT_EQ(j[3]["type"], "symlink");
  EXPECT_EQ(j[4]["type"], "reg");
  EXPECT_EQ(j[4]["uid"], 7);
  EXPECT_EQ(j[4]["layer"], 1);
  EXPECT_EQ(j[4]["link_layer"], 0);
  EXPECT_EQ(j[4]["link_path"], "a/f");
}

// ---- Encoding -------------------------------------------------------------------------------

Image RichImage() {
  return Image({{Dir("."), Dir("etc"), File("etc/passwd"), File("etc/group"),
                 Hard("etc/pw2", "etc/passwd"), Dir("usr"), Dir("usr/lib"), File("usr/lib/a"),
                 File("usr/lib/b"), Sym("lib", "usr/lib"), File("deep/er/file"), File("caf\xe9")},
                {Wh("usr/lib/.wh..wh..opq"), File("usr/lib/c"), Hard("usr/h", "etc/pw2"),
                 Wh(".wh.deep"), File("etc/passwd", "new")},
                {Hard("usr/h2", "usr/h"), File("opt/x/y")}});
}

TEST(MergedTreeEncodingTest, RoundTrip) {
  Image image = RichImage();
  auto tree = Flatten(image.span());
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::string enc = EncodeMergedTree(*tree);
  auto back = DecodeMergedTree(enc, image.span());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, *tree);
  EXPECT_EQ(EncodeMergedTree(*back), enc);
}

TEST(MergedTreeEncodingTest, EveryTruncationIsCorruption) {
  Image image = RichImage();
  std::string enc = EncodeMergedTree(*Flatten(image.span()));
  for (size_t n = 0; n < enc.size(); ++n) {
    auto r = DecodeMergedTree(enc.substr(0, n), image.span());
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << n << " " << r.status().ToString();
  }
  auto r = DecodeMergedTree(enc + "x", image.span());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(MergedTreeEncodingTest, EveryBitFlipIsCorruption) {
  Image image = RichImage();
  std::string enc = EncodeMergedTree(*Flatten(image.span()));
  for (size_t i = 0; i < enc.size() * 8; ++i) {
    std::string bad = enc;
    bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
    auto r = DecodeMergedTree(bad, image.span());
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << i << " " << r.status().ToString();
  }
}

// A body (after magic/version/flags) with a correct checksum, to reach the structural checks.
std::string WithCrc(std::string body, uint16_t version = 1, uint16_t flags = 0) {
  std::string out;
  coding::PutFixed32(&out, 0x544d4c53);
  coding::PutFixed16(&out, version);
  coding::PutFixed16(&out, flags);
  out += body;
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : out) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
  }
  coding::PutFixed32(&out, ~crc);
  return out;
}

std::string Varints(std::initializer_list<uint64_t> v) {
  std::string out;
  for (uint64_t x : v) coding::PutVarint64(&out, x);
  return out;
}

TEST(MergedTreeEncodingTest, StructuralDamageWithAValidChecksumIsCorruption) {
  Image image({{Dir("."), Dir("d"), File("d/f"), Hard("h", "d/f"), File("z"), Wh(".wh.q"),
                Hard("h2", "d/f")}});
  // Sanity: the honest encoding, rebuilt by hand, decodes.
  // count 5: run of layer 0 entries 0..4 minus the link: ". d d/f" run, link h, "z".
  std::string good = WithCrc(Varints({5, 0, 0, 2, 1, 0, 0, 2, 0, 0, 0}));
  auto ok = DecodeMergedTree(good, image.span());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(Describe(*ok), ". 0:0\nd 0:1\nd/f 0:2\nh 0:3->0:2\nz 0:4\n");
  EXPECT_EQ(good, EncodeMergedTree(*ok));

  auto tree_of = [&](std::vector<Node> nodes) { return EncodeMergedTree(MergedTree{nodes}); };
  Node root{0, 0, 0, 0, "."}, d{0, 1, 0, 1, "d"}, f{0, 2, 0, 2, "d/f"}, h{0, 3, 0, 2, "h"},
      z{0, 4, 0, 4, "z"}, wh{0, 5, 0, 5, ".wh.q"};
  struct Case {
    std::string name, bytes;
  };
  std::vector<Case> cases = {
      {"out of order", tree_of({root, d, z, f})},
      {"duplicate", tree_of({root, d, d})},
      {"no root first", tree_of({d, f})},
      {"empty", tree_of({})},
      {"parent missing", tree_of({root, f})},
      {"child of a file", tree_of({root, z, Node{kSynthetic, 0, kSynthetic, 0, "z/x"}})},
      {"entry out of range", tree_of({root, Node{0, 9, 0, 9, "x"}})},
      {"layer out of range", tree_of({root, Node{3, 0, 3, 0, "x"}})},
      {"hard link entry without target", tree_of({root, Node{0, 3, 0, 3, "h"}})},
      {"target is a hard link", tree_of({root, d, f, h, Node{0, 6, 0, 3, "h2"}})},
      {"target is a directory", tree_of({root, d, Node{0, 3, 0, 1, "h"}})},
      {"link record for a file", tree_of({root, Node{0, 4, 0, 2, "z"}})},
      {"target out of range", tree_of({root, Node{0, 3, 0, 77, "h"}})},
      {"whiteout in the tree", tree_of({root, wh})},
      {"synthetic bad path", tree_of({root, Node{kSynthetic, 0, kSynthetic, 0, "a//b"}})},
      {"unknown kind", WithCrc(Varints({2, 0, 0, 0, 3}))},
      {"synthetic with a layer", WithCrc(Varints({1, 6, 1, '.'}))},
      {"trailing bytes", WithCrc(Varints({1, 0, 0, 0, 0}))},
      {"run past the count", WithCrc(Varints({1, 0, 0, 1}))},
      {"huge count", WithCrc(Varints({1ull << 40, 0, 0, 0}))},
      {"huge delta", WithCrc(Varints({1, 0, 0xfffffffffffull, 0}))},
      {"negative delta", WithCrc(Varints({1, 0, 1, 0}))},
      {"bad flags", WithCrc(Varints({1, 0, 0, 0}), 1, 1)},
  };
  for (const Case& c : cases) {
    auto r = DecodeMergedTree(c.bytes, image.span());
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << c.name << ": " << r.status().ToString();
  }
  // A future version with a valid checksum is "not supported", not corrupt.
  auto v2 = DecodeMergedTree(WithCrc(Varints({1, 0, 0, 0}), 2), image.span());
  EXPECT_EQ(v2.status().code(), Code::kNotSupported);
  // Decoding against the wrong layers fails cleanly too.
  Image fewer({{Dir(".")}});
  EXPECT_EQ(DecodeMergedTree(good, fewer.span()).status().code(), Code::kCorruption);
  EXPECT_EQ(DecodeMergedTree(good, std::span<const toc::Toc* const>()).status().code(),
            Code::kCorruption);
}

// ---- Scale ----------------------------------------------------------------------------------

TEST(FlattenTest, HundredThousandEntries) {
  // Three layers, 100 000 entries: a base of 250 directories x 300 files, an update layer
  // replacing and whiting out files, opaque directories and hard links, and a third layer.
  std::vector<toc::Entry> base, update, top;
  for (int d = 0; d < 250; ++d) {
    std::string dir = "usr/share/d" + std::to_string(d);
    base.push_back(Dir(dir));
    for (int f = 0; f < 300; ++f) base.push_back(File(dir + "/file" + std::to_string(f)));
  }
  for (int d = 0; d < 250; d += 2) {
    std::string dir = "usr/share/d" + std::to_string(d);
    if (d % 10 == 0) update.push_back(Wh(dir + "/.wh..wh..opq"));
    for (int f = 0; f < 80; ++f) {
      std::string name = dir + "/file" + std::to_string(f * 3);
      update.push_back(f % 4 == 0 ? Wh(dir + "/.wh.file" + std::to_string(f * 3)) : File(name));
    }
    update.push_back(Hard(dir + "/link", "usr/share/d1/file7"));
  }
  while (base.size() + update.size() + top.size() < 100000) {
    top.push_back(File("opt/app/f" + std::to_string(top.size())));
  }
  toc::Toc a, b, c;
  a.entries = std::move(base);
  b.entries = std::move(update);
  c.entries = std::move(top);
  std::vector<const toc::Toc*> layers = {&a, &b, &c};
  auto start = std::chrono::steady_clock::now();
  auto tree = Flatten(layers);
  auto mid = std::chrono::steady_clock::now();
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::string enc = EncodeMergedTree(*tree);
  auto decoded = DecodeMergedTree(enc, layers);
  auto end = std::chrono::steady_clock::now();
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, *tree);
  EXPECT_GT(tree->nodes.size(), 80000u);
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "[ perf ] 100000 entries -> %zu nodes: flatten %.1f ms, encode+decode %.1f ms, "
      "%zu bytes encoded (%.2f bytes/node)\n",
      tree->nodes.size(), ms(mid - start), ms(end - mid), enc.size(),
      static_cast<double>(enc.size()) / static_cast<double>(tree->nodes.size()));
}

TEST(FlattenTest, DeepPathsDoNotRecurse) {
  std::string path = "d";
  for (int i = 0; i < 2047; ++i) path += "/d";  // 4095 bytes: PATH_MAX is the limit
  Image image({{File(path)}});
  auto tree = Flatten(image.span());
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->nodes.size(), 2049u);
  auto back = DecodeMergedTree(EncodeMergedTree(*tree), image.span());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
}

// ---- Oracle: umoci unpack -------------------------------------------------------------------

struct Seen {
  char type = '?';  // f d l p c b
  uint32_t mode = 0;
  uint64_t uid = 0, gid = 0;
  std::string link;    // symlink target
  std::string sha256;  // regular files
  bool operator==(const Seen&) const = default;
};
std::ostream& operator<<(std::ostream& o, const Seen& s) {
  return o << s.type << " " << std::oct << s.mode << std::dec << " " << s.uid << ":" << s.gid << " "
           << s.link << " " << s.sha256.substr(0, 12);
}

std::map<std::string, Seen>* g_seen = nullptr;
std::map<std::string, std::set<std::string>>* g_groups = nullptr;  // by inode
size_t g_root_len = 0;

int Visit(const char* path, const struct stat* st, int, struct FTW*) {
  std::string rel = std::string(path).substr(g_root_len);
  rel = rel.empty() ? "." : rel.substr(1);
  Seen s;
  s.mode = st->st_mode & 07777;
  s.uid = st->st_uid;
  s.gid = st->st_gid;
  if (S_ISDIR(st->st_mode)) s.type = 'd';
  if (S_ISREG(st->st_mode)) {
    s.type = 'f';
    s.sha256 = digest::Sha256Of(t::ReadFile(path)).ToString();
  }
  if (S_ISLNK(st->st_mode)) {
    s.type = 'l';
    s.mode = 0;
    char buf[4096];
    ssize_t n = ::readlink(path, buf, sizeof buf);
    s.link.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  if (S_ISFIFO(st->st_mode)) s.type = 'p';
  (*g_seen)[rel] = s;
  if (!S_ISDIR(st->st_mode)) (*g_groups)[std::to_string(st->st_ino)].insert(rel);
  return 0;
}

char TypeChar(EntryType t) {
  switch (t) {
    case EntryType::kRegular:
      return 'f';
    case EntryType::kDirectory:
      return 'd';
    case EntryType::kSymlink:
      return 'l';
    case EntryType::kFifo:
      return 'p';
    default:
      return '?';
  }
}

// What an unpacked tree should look like according to the merged tree.
void Expected(const MergedTree& tree, std::span<const toc::Toc* const> layers,
              std::map<std::string, Seen>* seen, std::set<std::set<std::string>>* groups) {
  std::map<std::pair<uint32_t, uint32_t>, std::set<std::string>> by_target;
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    ResolvedNode r = Resolve(tree, i, layers);
    Seen s;
    if (r.target == nullptr) {
      s.type = 'd';
      s.mode = 0755;
    } else {
      const tar::Entry& m = r.target->meta;
      s.type = TypeChar(m.type);
      s.mode = m.type == EntryType::kSymlink ? 0 : m.mode;
      s.uid = m.uid;
      s.gid = m.gid;
      if (m.type == EntryType::kSymlink) s.link = m.linkname;
      if (m.type == EntryType::kRegular) s.sha256 = r.target->digest.ToString();
      if (m.type != EntryType::kDirectory) {
        by_target[{r.node->target_layer, r.node->target_entry}].insert(r.node->path);
      }
    }
    (*seen)[r.node->path] = s;
  }
  for (auto& [k, v] : by_target) groups->insert(v);
}

struct BuiltLayer {
  std::string blob;  // seekable tar.gz
  toc::Toc toc;
  std::string diff_id;
};

BuiltLayer BuildLayer(const std::string& tar) {
  std::string gz = t::GzipCompress(tar);
  auto src = io::NewStringSource(gz);
  io::StringSink sink;
  seekable::WriterOptions o;
  o.threads = 1;
  auto r = seekable::ConvertLayer(src.get(), &sink, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  return {std::move(sink.data), std::move(r->toc), digest::Sha256Of(tar).ToString()};
}

std::string WriteBlob(const std::string& layout, std::string_view data) {
  std::string d = digest::Sha256Of(data).ToString();
  t::WriteFile(layout + "/blobs/sha256/" + d.substr(7), data);
  return d;
}

// An OCI image layout with one manifest tagged `tag`.
void WriteLayout(const std::string& layout, const std::string& tag,
                 const std::vector<BuiltLayer>& layers) {
  using nlohmann::json;
  ASSERT_EQ(t::RunShell("mkdir -p \"$1/blobs/sha256\"", {layout}).exit_code, 0);
  json diff_ids = json::array(), descs = json::array();
  for (const BuiltLayer& l : layers) {
    diff_ids.push_back(l.diff_id);
    descs.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                     {"digest", WriteBlob(layout, l.blob)},
                     {"size", l.blob.size()}});
  }
  std::string config = json{{"architecture", "amd64"},
                            {"os", "linux"},
                            {"config", json::object()},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                           .dump();
  std::string manifest = json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", WriteBlob(layout, config)},
        {"size", config.size()}}},
      {"layers", descs}}.dump();
  std::string md = WriteBlob(layout, manifest);
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", md},
                   {"size", manifest.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  t::WriteFile(layout + "/index.json", index.dump());
  t::WriteFile(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

// Unpacks `layers` with umoci and compares the rootfs with Flatten of their ToCs.
void CompareWithUmoci(const std::vector<BuiltLayer>& layers) {
  std::vector<const toc::Toc*> tocs;
  for (const BuiltLayer& l : layers) tocs.push_back(&l.toc);
  auto tree = Flatten(tocs);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();

  t::TempDir dir;
  WriteLayout(dir.Join("image"), "test", layers);
  ::umask(022);  // umoci creates implied directories 0777 & ~umask
  auto run = t::Run({t::FindProgram("umoci"), "unpack", "--image", dir.Join("image") + ":test",
                     dir.Join("bundle")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;

  std::map<std::string, Seen> seen;
  std::map<std::string, std::set<std::string>> inodes;
  std::string root = dir.Join("bundle/rootfs");
  g_seen = &seen;
  g_groups = &inodes;
  g_root_len = root.size();
  ASSERT_EQ(::nftw(root.c_str(), Visit, 64, FTW_PHYS), 0);
  g_seen = nullptr;
  g_groups = nullptr;

  std::map<std::string, Seen> want;
  std::set<std::set<std::string>> want_groups, seen_groups;
  Expected(*tree, tocs, &want, &want_groups);
  for (auto& [ino, paths] : inodes) seen_groups.insert(paths);
  want.erase(".");  // umoci owns the rootfs directory itself unless a layer has "."
  seen.erase(".");

  size_t differences = 0;
  for (const auto& [path, s] : want) {
    auto it = seen.find(path);
    if (it == seen.end()) {
      if (++differences <= 20) ADD_FAILURE() << "missing from umoci's rootfs: " << path;
    } else if (!(it->second == s)) {
      if (++differences <= 20) ADD_FAILURE() << path << ": want " << s << ", umoci " << it->second;
    }
  }
  for (const auto& [path, s] : seen) {
    if (!want.contains(path) && ++differences <= 20) {
      ADD_FAILURE() << "only in umoci's rootfs: " << path << " " << s;
    }
  }
  EXPECT_EQ(differences, 0u);
  EXPECT_EQ(seen_groups, want_groups) << "hard-link groups differ";
  size_t linked = 0;
  for (const auto& g : want_groups) linked += g.size() > 1;
  std::printf("[ umoci ] %zu paths and %zu hard-link groups (%zu with several names) compared\n",
              want.size(), want_groups.size(), linked);
  EXPECT_EQ(seen.size(), want.size());
}

std::string Fifo(t::TarBuilder& b, const std::string& name) {
  t::Header h;
  h.name = name;
  h.typeflag = '6';
  b.Add(h);
  return name;
}

TEST(FlattenUmociOracleTest, LayersWithWhiteoutsOpaqueDirsAndHardLinksMatchUmociUnpack) {
  if (t::FindProgram("umoci").empty()) GTEST_SKIP() << "umoci is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "umoci unpack needs root to restore owners";
  std::vector<BuiltLayer> layers;
  {  // 0: the base
    t::TarBuilder b;
    b.Dir("etc").File("etc/passwd", "root:x:0:0\n").File("etc/group", "root:x:0:\n", 0600);
    b.Hardlink("etc/passwd.hard", "etc/passwd");
    b.Dir("usr", 0750).Dir("usr/lib").File("usr/lib/liba.so", "a").File("usr/lib/libb.so", "b");
    b.Dir("usr/lib/sub").File("usr/lib/sub/deep", "deep");
    b.Dir("opt").Dir("opt/old").File("opt/old/x", "x").File("opt/keep", "keep");
    b.Dir("var").File("var/f", "var1");
    b.Symlink("bin", "usr/bin").Symlink("etc/rel", "../usr/lib/liba.so");
    b.Dir("dir2file").File("dir2file/inner", "inner");
    b.File("file2dir", "was a file");
    b.File("imp/deep/file", "implied parents");  // no entries for imp/ and imp/deep/
    b.File("data", "data v1").File("caf\xe9", "latin-1 name", 0640);
    Fifo(b, "run-fifo");
    layers.push_back(BuildLayer(b.End().bytes()));
  }
  {  // 1: whiteouts, opaque directory, replacements, links across layers
    t::TarBuilder b;
    b.File("opt/.wh.old", "");                                // whiteout of a directory
    b.Dir("usr/lib", 0700).File("usr/lib/libnew.so", "new");  // opaque: lower children go,
    b.File("usr/lib/.wh..wh..opq", "");                       // same-layer ones stay
    b.File("usr/lib/libafter.so", "after");
    b.Hardlink("usr/passwd.link", "etc/passwd");  // target in layer 0
    b.File("dir2file", "now a file");
    b.Dir("file2dir").File("file2dir/in", "in");
    b.File(".wh.var", "");
    b.File("newfile", "same layer").File(".wh.newfile", "");  // same layer: stays
    b.File("dup", "first").File("dup", "second");
    b.File("data", "data v2");
    b.Hardlink("data.old", "data");  // links to this layer's data
    b.File("data", "data v3");       // replaced after the link: the link keeps v2
    layers.push_back(BuildLayer(b.End().bytes()));
  }
  {  // 2: hidden and replaced link targets, chains, re-creation
    t::TarBuilder b;
    b.File("etc/.wh.passwd", "");            // hard-link target hidden: links keep the content
    b.Hardlink("chain", "usr/passwd.link");  // link to a link (lower layer)
    b.Dir("var", 0700).File("var/g", "recreated");
    b.Dir("etc", 0711);  // metadata of a directory changes, children stay
    b.File("etc/group", "new group");
    b.Hardlink("group.link", "etc/group");
    b.Dir("imp", 0700);  // an implied directory gets real metadata
    layers.push_back(BuildLayer(b.End().bytes()));
  }
  {  // 3: opaque at a deeper level, whiteout of a symlink, file over a symlink
    t::TarBuilder b;
    b.Dir("imp/deep").File("imp/deep/.wh..wh..opq", "").File("imp/deep/only", "only");
    b.File(".wh.bin", "");
    b.File("etc/rel", "no longer a symlink");
    layers.push_back(BuildLayer(b.End().bytes()));
  }
  for (const auto& l : layers) ASSERT_FALSE(l.toc.entries.empty());
  CompareWithUmoci(layers);

  // The tree itself, for the record of what umoci agreed with.
  std::vector<const toc::Toc*> tocs;
  for (const auto& l : layers) tocs.push_back(&l.toc);
  auto tree = Flatten(tocs);
  ASSERT_TRUE(tree.ok());
  std::string d = Describe(*tree);
  EXPECT_NE(d.find("chain 2:1->0:1\n"), std::string::npos) << d;
  EXPECT_EQ(d.find("opt/old"), std::string::npos) << d;
  EXPECT_EQ(d.find("usr/lib/liba.so"), std::string::npos) << d;
}

TEST(FlattenUmociOracleTest, DebianRootfsLayerMatchesUmociUnpack) {
  const char* layer = std::getenv("STARLIGHT_ROOTFS_LAYER");
  if (layer == nullptr || *layer == '\0') {
    GTEST_SKIP() << "STARLIGHT_ROOTFS_LAYER is not set (tools/make-rootfs-layer.sh makes one)";
  }
  if (t::FindProgram("umoci").empty()) GTEST_SKIP() << "umoci is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "umoci unpack needs root to restore owners";
  auto gz = io::ReadFileToString(layer);
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  auto src = io::NewStringSource(*gz);
  io::StringSink sink;
  auto r = seekable::ConvertLayer(src.get(), &sink, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  BuiltLayer built{std::move(sink.data), r->toc, r->toc.diff_id.ToString()};
  std::vector<const toc::Toc*> tocs = {&built.toc};
  auto start = std::chrono::steady_clock::now();
  auto tree = Flatten(tocs);
  auto end = std::chrono::steady_clock::now();
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::string enc = EncodeMergedTree(*tree);
  std::printf(
      "[ rootfs ] %zu entries -> %zu nodes in %.1f ms; encoded %zu bytes (%.3f bytes/node)\n",
      built.toc.entries.size(), tree->nodes.size(),
      std::chrono::duration<double, std::milli>(end - start).count(), enc.size(),
      static_cast<double>(enc.size()) / static_cast<double>(tree->nodes.size()));
  CompareWithUmoci({built});
}

}  // namespace
}  // namespace starlight::flatten
