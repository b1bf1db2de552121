// The merged (flattened) tree of an image: its layers' ToCs applied bottom to top the way a
// container runtime unpacks them (OCI image-spec "Applying Changesets"): later entries replace
// earlier ones, `.wh.NAME` hides NAME (and its subtree) of lower layers, `.wh..wh..opq` hides
// every lower-layer child of its directory, whiteouts never appear in the result, directories
// implied by deeper paths are synthesised, and a hard link is resolved to the entry whose
// content and metadata it shares at the moment its layer is applied (even when that entry is in a
// lower layer, or is later hidden or replaced).
//
// A MergedTree refers to entries of the layer ToCs by index instead of copying them, so it is
// small to store (format-spec/merged-tree.md) and fast to expand. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status/status.h"
#include "core/toc/toc.h"

namespace starlight::flatten {

// Layer index of a directory that no layer has an entry for (implied by a deeper path).
inline constexpr uint32_t kSynthetic = 0xffffffffu;

struct Node {
  // The entry that provides this path: layers[layer].entries[entry]; kSynthetic for a
  // synthesised directory (mode 0755, uid/gid 0, mtime 0), then `entry` is 0.
  uint32_t layer = 0;
  uint32_t entry = 0;
  // For a hard link: the entry whose inode it shares (never itself a hard link). For anything
  // else: equal to (layer, entry).
  uint32_t target_layer = 0;
  uint32_t target_entry = 0;
  std::string path;  // normalised as in the ToC ("." is the root); always filled
  bool operator==(const Node&) const = default;
};

struct MergedTree {
  // Depth-first pre-order, names compared bytewise within a directory: a directory comes right
  // before its subtree, so each subtree is one contiguous range. nodes[0] is the root ".".
  std::vector<Node> nodes;
  bool operator==(const MergedTree&) const = default;
};

// REQUIRES: layers[i] outlives nothing (the result holds indices only).
// InvalidArgument names the layer and entry of an impossible change: a hard link whose target
// does not exist at that point (or is a directory), a path whose parent is not a directory in
// the merged view (symlinks are not followed), a non-directory root, or a malformed path
// (not normalised, or longer than PATH_MAX = 4096 bytes).
Result<MergedTree> Flatten(std::span<const toc::Toc* const> layers);

// Versioned compact binary encoding (format-spec/merged-tree.md). Decode checks structure
// (order, uniqueness, parent before child) and, given the layers' entry counts, that every
// index is in range: a damaged record is Corruption, never a crash.
std::string EncodeMergedTree(const MergedTree& tree);
Result<MergedTree> DecodeMergedTree(std::string_view data, std::span<const toc::Toc* const> layers);

// Expanded view of one node for consumers (CLI, proxy, FS).
struct ResolvedNode {
  const Node* node = nullptr;
  const toc::Entry* entry = nullptr;   // null for a synthetic directory
  const toc::Entry* target = nullptr;  // the hard link's target, else == entry
};
// REQUIRES: `tree` comes from Flatten or DecodeMergedTree of these `layers`; i < nodes.size().
ResolvedNode Resolve(const MergedTree& tree, size_t i, std::span<const toc::Toc* const> layers);

// JSON array of the tree for `starlight-proxy db show --json`: one object per node with path,
// type, mode, uid, gid, size, mtime, linkname, digest (regular files), layer (index, or -1 for
// synthetic directories), and for hard links "link_layer"/"link_path" of the target.
std::string MergedTreeToJson(const MergedTree& tree, std::span<const toc::Toc* const> layers);

}  // namespace starlight::flatten
