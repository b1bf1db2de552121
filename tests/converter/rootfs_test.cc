// A real Debian rootfs layer (tools/make-rootfs-layer.sh; the test script sets
// STARLIGHT_ROOTFS_LAYER): same decompressed stream, embedded ToC equal to a scan, and GNU tar
// extracts identical trees from the original and the converted layer.
#include <ftw.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "converter/layer.h"
#include "core/io/reader.h"
#include "core/seekable/reader.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace starlight {
namespace {

namespace t = starlight::testing;

// path -> "mode uid gid size mtime.nsec rdev nlink target xattrs" for every file of a tree.
std::map<std::string, std::string>* g_tree = nullptr;
size_t g_root_len = 0;

int Visit(const char* path, const struct stat* st, int, struct FTW*) {
  std::string rel = std::string(path).substr(g_root_len);
  std::string d = std::to_string(st->st_mode) + " " + std::to_string(st->st_uid) + " " +
                  std::to_string(st->st_gid) + " " + std::to_string(st->st_nlink) + " " +
                  std::to_string(st->st_rdev);
  if (!S_ISDIR(st->st_mode)) {  // directory sizes and times depend on the filesystem and on order
    d += " " + std::to_string(st->st_size) + " " + std::to_string(st->st_mtim.tv_sec) + "." +
         std::to_string(st->st_mtim.tv_nsec);
  }
  if (S_ISLNK(st->st_mode)) {
    char buf[4096];
    ssize_t n = ::readlink(path, buf, sizeof buf);
    d += " -> " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  char names[65536];
  ssize_t n = ::llistxattr(path, names, sizeof names);
  for (ssize_t i = 0; i < n;) {
    std::string name(names + i);
    char value[65536];
    ssize_t v = ::lgetxattr(path, name.c_str(), value, sizeof value);
    d += " " + name + "=" + std::string(value, v > 0 ? static_cast<size_t>(v) : 0);
    i += static_cast<ssize_t>(name.size()) + 1;
  }
  (*g_tree)[rel] = d;
  return 0;
}

std::map<std::string, std::string> Tree(const std::string& root) {
  std::map<std::string, std::string> tree;
  g_tree = &tree;
  g_root_len = root.size();
  EXPECT_EQ(::nftw(root.c_str(), Visit, 64, FTW_PHYS), 0);
  g_tree = nullptr;
  return tree;
}

TEST(RootfsLayerTest, ConvertsADebianRootfs) {
  const char* layer = std::getenv("STARLIGHT_ROOTFS_LAYER");
  if (layer == nullptr || *layer == '\0') {
    GTEST_SKIP() << "STARLIGHT_ROOTFS_LAYER is not set (tools/make-rootfs-layer.sh makes one)";
  }
  t::TempDir dir;
  converter::LayerOptions o;
  o.input = layer;
  o.output = dir.Join("blob.tar.gz");
  auto r = converter::ConvertLayerFile(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->result.toc.entries.size(), 1000u);

  // Same decompressed stream (zcat on both), which is the layer's diffID.
  auto sha = [](const std::string& f) {
    auto x = t::RunShell("zcat \"$1\" | sha256sum | cut -d' ' -f1", {f});
    EXPECT_EQ(x.exit_code, 0) << x.err;
    return x.out.substr(0, 64);
  };
  std::string orig_sha = sha(layer);
  EXPECT_EQ(orig_sha, sha(o.output));
  EXPECT_EQ(orig_sha, r->result.toc.diff_id.Hex());

  auto blob = io::OpenFileReader(o.output);
  ASSERT_TRUE(blob.ok());
  auto v = seekable::VerifyLayer(**blob);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->embedded.toc, r->result.toc);

  // Listings and extracted trees are identical.
  auto list = [](const std::string& f) {
    auto x = t::Run({"tar", "--numeric-owner", "-tvzf", f});
    EXPECT_EQ(x.exit_code, 0) << x.err;
    return x.out;
  };
  std::string listing = list(layer);
  EXPECT_FALSE(listing.empty());
  EXPECT_EQ(listing, list(o.output));
  std::string a = dir.Join("a"), b = dir.Join("b");
  for (const auto& [src, dst] : {std::pair{std::string(layer), a}, std::pair{o.output, b}}) {
    ASSERT_EQ(::mkdir(dst.c_str(), 0755), 0);
    auto x = t::Run({"tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpzf", src, "-C", dst});
    ASSERT_EQ(x.exit_code, 0) << x.err;
  }
  // diff compares contents and symlink targets; for device nodes and FIFOs it can only say
  // "File X is a <type> while file Y is a <type>" (their metadata is compared below).
  auto diff = t::Run({"diff", "-r", "--no-dereference", a, b});
  EXPECT_TRUE(diff.exit_code == 0 || diff.exit_code == 1) << diff.err;
  std::istringstream lines(diff.out);
  for (std::string line; std::getline(lines, line);) {
    size_t is = line.find(" is a "), whilef = line.find(" while file ");
    size_t is2 = line.rfind(" is a ");
    bool same_special = line.rfind("File ", 0) == 0 && is != std::string::npos &&
                        whilef != std::string::npos && is2 > whilef &&
                        line.substr(is, whilef - is) == line.substr(is2);
    EXPECT_TRUE(same_special) << "diff -r: " << line;
  }
  auto ta = Tree(a), tb = Tree(b);
  EXPECT_GT(ta.size(), 1000u);
  ASSERT_EQ(ta.size(), tb.size());
  size_t differences = 0;
  for (const auto& [path, meta] : ta) {
    auto it = tb.find(path);
    if (it == tb.end() || it->second != meta) {
      if (++differences <= 10) {
        ADD_FAILURE() << path << ": " << meta << " vs " << (it == tb.end() ? "(missing)" : it->second);
      }
    }
  }
  EXPECT_EQ(differences, 0u);
}

}  // namespace
}  // namespace starlight
