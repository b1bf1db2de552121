// Checks the implementation against format-spec/vectors/merged-tree (merged-tree.md, section 6):
// the layer set of layers.json flattens to the tree that small.hex encodes, byte for byte; the
// JSON view equals small.json; every encoding of damaged.json is rejected with its error class.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/format-spec/vector_files.h"
#include "core/coding/base64.h"
#include "core/digest/digest.h"
#include "core/flatten/flatten.h"
#include "core/io/writer.h"
#include "core/toc/toc.h"

namespace starlight {
namespace {

using testing::Hex;
using testing::Unhex;

using nlohmann::json;

std::string ReadVector(const std::string& name) { return testing::ReadVectorFile("merged-tree", name); }

tar::EntryType TypeOf(const std::string& name) {
  static const std::map<std::string, tar::EntryType> kTypes = {
      {"reg", tar::EntryType::kRegular},       {"hardlink", tar::EntryType::kHardlink},
      {"symlink", tar::EntryType::kSymlink},   {"char", tar::EntryType::kCharDevice},
      {"block", tar::EntryType::kBlockDevice}, {"dir", tar::EntryType::kDirectory},
      {"fifo", tar::EntryType::kFifo}};
  auto it = kTypes.find(name);
  EXPECT_NE(it, kTypes.end()) << name;
  return it == kTypes.end() ? tar::EntryType::kOther : it->second;
}

// The layer set as ToCs (only the fields the merged tree looks at).
struct Layers {
  std::vector<toc::Toc> tocs;
  std::vector<const toc::Toc*> ptrs;
  std::span<const toc::Toc* const> span() const { return ptrs; }
};

void LoadLayers(Layers* out) {
  json doc = json::parse(ReadVector("layers.json"));
  for (const json& layer : doc.at("layers")) {
    toc::Toc t;
    for (const json& j : layer) {
      toc::Entry e;
      if (j.contains("path_base64")) {
        auto raw = coding::Base64Decode(j.at("path_base64").get<std::string>());
        ASSERT_TRUE(raw.ok());
        e.meta.path = *raw;
      } else {
        e.meta.path = j.at("path").get<std::string>();
      }
      e.meta.type = TypeOf(j.at("type").get<std::string>());
      e.meta.mode = j.at("mode").get<uint32_t>();
      e.meta.uid = j.at("uid").get<uint64_t>();
      e.meta.gid = j.at("gid").get<uint64_t>();
      e.meta.mtime_sec = j.at("mtime").get<int64_t>();
      if (j.contains("linkname")) e.meta.linkname = j.at("linkname").get<std::string>();
      if (j.contains("content")) {
        std::string content = j.at("content").get<std::string>();
        e.meta.size = content.size();
        e.meta.data_size = content.size();
        e.digest = digest::Sha256Of(content);
      }
      t.entries.push_back(std::move(e));
    }
    out->tocs.push_back(std::move(t));
  }
  for (const auto& t : out->tocs) out->ptrs.push_back(&t);
}

TEST(MergedTreeVectors, FilesMatchTheirDigests) {
  std::istringstream in(ReadVector("SHA256SUMS"));
  std::string digest, name;
  int n = 0;
  while (in >> digest >> name) {
    EXPECT_EQ(digest::Sha256Of(ReadVector(name)).Hex(), digest) << name;
    ++n;
  }
  EXPECT_EQ(n, 4);
}

TEST(MergedTreeVectors, FlattenEncodesToTheVectorBytes) {
  Layers layers;
  ASSERT_NO_FATAL_FAILURE(LoadLayers(&layers));
  ASSERT_EQ(layers.tocs.size(), 3u);
  auto tree = flatten::Flatten(layers.span());
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::string want = Unhex(ReadVector("small.hex"));
  EXPECT_EQ(flatten::EncodeMergedTree(*tree), want);

  auto decoded = flatten::DecodeMergedTree(want, layers.span());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, *tree);
  EXPECT_EQ(flatten::EncodeMergedTree(*decoded), want);
}

TEST(MergedTreeVectors, JsonViewMatches) {
  Layers layers;
  ASSERT_NO_FATAL_FAILURE(LoadLayers(&layers));
  auto tree = flatten::DecodeMergedTree(Unhex(ReadVector("small.hex")), layers.span());
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  json got = json::parse(flatten::MergedTreeToJson(*tree, layers.span()));
  json want = json::parse(ReadVector("small.json"));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "node " << i;
}

TEST(MergedTreeVectors, DamagedEncodingsAreRejected) {
  Layers layers;
  ASSERT_NO_FATAL_FAILURE(LoadLayers(&layers));
  json cases = json::parse(ReadVector("damaged.json"));
  EXPECT_GE(cases.size(), 25u);
  for (const json& c : cases) {
    std::string name = c.at("name").get<std::string>();
    auto r = flatten::DecodeMergedTree(Unhex(c.at("hex").get<std::string>()), layers.span());
    ASSERT_FALSE(r.ok()) << name;
    std::string want = c.at("error").get<std::string>();
    Code code = want == "not-supported" ? Code::kNotSupported : Code::kCorruption;
    EXPECT_EQ(r.status().code(), code) << name << ": " << r.status().ToString();
  }
}

}  // namespace
}  // namespace starlight
