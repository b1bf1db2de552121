// Flatten: a path -> slot hash map over an arena of slots, each directory slot heading an
// intrusive list of its children (entries are unlinked lazily), so a replacement or a whiteout
// costs O(size of what it removes) and the whole image O(n); the result is produced by one
// depth-first walk with each directory's children sorted by name (O(n log n)).
//
// Encoding: format-spec/merged-tree.md.
#include "core/flatten/flatten.h"

#include <zlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "core/coding/base64.h"
#include "core/coding/coding.h"

namespace starlight::flatten {

namespace {

using tar::EntryType;

constexpr uint32_t kNone = 0xffffffffu;
constexpr uint32_t kMagic = 0x544d4c53;  // "SLMT" as little-endian bytes
constexpr uint16_t kVersion = 1;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
// Linux's PATH_MAX: no runtime can unpack a longer path, and the bound keeps the per-node work
// (hashing, comparing paths) linear in practice.
constexpr size_t kMaxPath = 4096;

// Record kinds (low two bits of a record's head varint).
constexpr uint64_t kKindEntries = 0;
constexpr uint64_t kKindHardlink = 1;
constexpr uint64_t kKindSynthetic = 2;

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "." for a top-level name. REQUIRES: path != ".".
std::string_view ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view(".") : path.substr(0, slash);
}

// A normalised ToC path: "." or non-empty components other than "." and "..", no NUL.
bool WellFormed(std::string_view path) {
  if (path == ".") return true;
  if (path.empty() || path.size() > kMaxPath || path.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool IsWhiteoutName(std::string_view name) { return name.starts_with(kWhiteoutPrefix); }

// Some component other than the last is a whiteout name ("a/.wh.b/c").
bool HasWhiteoutDirectory(std::string_view path) {
  size_t start = 0;
  for (size_t slash; (slash = path.find('/', start)) != std::string_view::npos; start = slash + 1) {
    if (IsWhiteoutName(path.substr(start, slash - start))) return true;
  }
  return false;
}

// Pre-order comparison: "." first, then component by component, names bytewise.
int ComparePreorder(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  if (a == ".") return -1;
  if (b == ".") return 1;
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return -1;
    if (b[i] == '/') return 1;
    return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]) ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : 1;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

struct Slot {
  std::string_view path;  // points into a ToC entry's path (the caller keeps the ToCs alive)
  uint32_t layer = kSynthetic, entry = 0, target_layer = kSynthetic, target_entry = 0;
  uint32_t first_child = kNone, next_sibling = kNone;
  bool dir = true;
  bool alive = true;
};

class Builder {
 public:
  explicit Builder(std::span<const toc::Toc* const> layers) : layers_(layers) {
    size_t total = 0;
    for (const toc::Toc* t : layers) total += t->entries.size();
    slots_.reserve(total + 1);
    index_.reserve(total + 1);
    slots_.push_back(Slot{.path = "."});
    index_.emplace(".", 0);
  }

  Status Run() {
    for (uint32_t l = 0; l < layers_.size(); ++l) {
      SL_RETURN_IF_ERROR(ApplyWhiteouts(l));
      const auto& entries = layers_[l]->entries;
      for (uint32_t i = 0; i < entries.size(); ++i) {
        if (IsWhiteoutName(BaseName(entries[i].meta.path))) continue;
        SL_RETURN_IF_ERROR(Apply(l, i));
      }
    }
    return Status::Ok();
  }

  MergedTree Output() {
    MergedTree tree;
    tree.nodes.reserve(index_.size());
    std::vector<uint32_t> stack = {0}, children;
    while (!stack.empty()) {
      uint32_t s = stack.back();
      stack.pop_back();
      const Slot& slot = slots_[s];
      tree.nodes.push_back(Node{slot.layer, slot.layer == kSynthetic ? 0 : slot.entry,
                                slot.target_layer, slot.layer == kSynthetic ? 0 : slot.target_entry,
                                std::string(slot.path)});
      if (!slot.dir) continue;
      children.clear();
      for (uint32_t c = Compact(s); c != kNone; c = slots_[c].next_sibling) children.push_back(c);
      std::sort(children.begin(), children.end(), [&](uint32_t a, uint32_t b) {
        return BaseName(slots_[a].path) > BaseName(slots_[b].path);  // reversed: a stack
      });
      stack.insert(stack.end(), children.begin(), children.end());
    }
    return tree;
  }

 private:
  Status Error(uint32_t l, uint32_t i, std::string_view what) const {
    return Status::InvalidArgument("layer " + std::to_string(l) + " entry " + std::to_string(i) +
                                   " " + Quote(layers_[l]->entries[i].meta.path) + ": " +
                                   std::string(what));
  }

  uint32_t Find(std::string_view path) const {
    auto it = index_.find(path);
    return it == index_.end() ? kNone : it->second;
  }

  // Unlinks dead children from `dir`'s list and returns its first live child.
  uint32_t Compact(uint32_t dir) {
    uint32_t* link = &slots_[dir].first_child;
    while (*link != kNone) {
      if (slots_[*link].alive) {
        link = &slots_[*link].next_sibling;
      } else {
        *link = slots_[*link].next_sibling;
      }
    }
    return slots_[dir].first_child;
  }

  // Removes `s` and everything below it from the merged view.
  void Remove(uint32_t s) {
    std::vector<uint32_t> todo = {s};
    while (!todo.empty()) {
      uint32_t x = todo.back();
      todo.pop_back();
      Slot& slot = slots_[x];
      if (!slot.alive) continue;
      slot.alive = false;
      index_.erase(slot.path);
      for (uint32_t c = slot.first_child; c != kNone; c = slots_[c].next_sibling) {
        if (slots_[c].alive) todo.push_back(c);
      }
    }
  }

  uint32_t AddSlot(std::string_view path, uint32_t parent, bool dir) {
    auto s = static_cast<uint32_t>(slots_.size());
    Slot slot;
    slot.path = path;
    slot.dir = dir;
    slot.next_sibling = slots_[parent].first_child;
    slots_.push_back(slot);
    slots_[parent].first_child = s;
    index_.emplace(path, s);
    return s;
  }

  // The directory at `dir` (a prefix of entry (l, i)'s path), synthesising missing ancestors.
  Result<uint32_t> EnsureDirectory(std::string_view dir, uint32_t l, uint32_t i) {
    std::vector<std::string_view> missing;
    uint32_t s;
    while ((s = Find(dir)) == kNone) {
      missing.push_back(dir);
      dir = ParentOf(dir);
    }
    if (!slots_[s].dir) {
      return Error(
          l, i,
          "parent " + Quote(dir) + " is not a directory in the merged tree (a " +
              std::string(tar::EntryTypeName(
                  layers_[slots_[s].target_layer]->entries[slots_[s].target_entry].meta.type)) +
              ")");
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) s = AddSlot(*it, s, true);
    return s;
  }

  // A layer's whiteouts apply to the lower layers only, so all of them are applied before any
  // other entry of the layer, whatever their order in the tar stream.
  Status ApplyWhiteouts(uint32_t l) {
    const auto& entries = layers_[l]->entries;
    std::string hidden;
    for (uint32_t i = 0; i < entries.size(); ++i) {
      std::string_view path = entries[i].meta.path;
      std::string_view name = BaseName(path);
      if (!IsWhiteoutName(name)) continue;
      if (!WellFormed(path) || HasWhiteoutDirectory(path)) return Error(l, i, "malformed path");
      std::string_view parent = ParentOf(path);
      if (name == kOpaque) {
        uint32_t d = Find(parent);
        if (d == kNone || !slots_[d].dir) continue;  // nothing below to hide
        for (uint32_t c = Compact(d); c != kNone; c = slots_[c].next_sibling) Remove(c);
        slots_[d].first_child = kNone;
        continue;
      }
      std::string_view target = name.substr(kWhiteoutPrefix.size());
      if (target.empty() || target == "." || target == "..") {
        return Error(l, i, "whiteout names no file");
      }
      hidden.assign(parent == "." ? std::string_view() : parent);
      if (!hidden.empty()) hidden.push_back('/');
      hidden.append(target);
      uint32_t s = Find(hidden);
      if (s != kNone) Remove(s);  // absent (or below a non-directory): nothing to hide
    }
    return Status::Ok();
  }

  Status Apply(uint32_t l, uint32_t i) {
    const tar::Entry& m = layers_[l]->entries[i].meta;
    if (!WellFormed(m.path)) return Error(l, i, "malformed path");
    if (HasWhiteoutDirectory(m.path)) return Error(l, i, "whiteout name used as a directory");
    bool dir = m.type == EntryType::kDirectory;
    if (m.path == ".") {
      if (!dir) return Error(l, i, "the root must be a directory");
      Set(0, l, i);
      return Status::Ok();
    }
    SL_ASSIGN_OR_RETURN(uint32_t parent, EnsureDirectory(ParentOf(m.path), l, i));
    uint32_t s = Find(m.path);
    if (s != kNone && slots_[s].dir && dir) {  // directory over directory: children are kept
      Set(s, l, i);
      return Status::Ok();
    }
    if (s != kNone) Remove(s);  // a runtime unlinks (or rm -r's) the old path first
    uint32_t target_layer = l, target_entry = i;
    if (m.type == EntryType::kHardlink) {
      if (!WellFormed(m.linkname)) return Error(l, i, "malformed hard link target");
      uint32_t t = Find(m.linkname);
      if (t == kNone) {
        return Error(l, i, "hard link target " + Quote(m.linkname) + " does not exist");
      }
      if (slots_[t].dir) {
        return Error(l, i, "hard link target " + Quote(m.linkname) + " is a directory");
      }
      target_layer = slots_[t].target_layer;
      target_entry = slots_[t].target_entry;
    }
    s = AddSlot(m.path, parent, dir);
    Set(s, l, i, target_layer, target_entry);
    return Status::Ok();
  }

  void Set(uint32_t s, uint32_t l, uint32_t i) { Set(s, l, i, l, i); }
  void Set(uint32_t s, uint32_t l, uint32_t i, uint32_t tl, uint32_t ti) {
    slots_[s].layer = l;
    slots_[s].entry = i;
    slots_[s].target_layer = tl;
    slots_[s].target_entry = ti;
  }

  std::span<const toc::Toc* const> layers_;
  std::vector<Slot> slots_;
  std::unordered_map<std::string_view, uint32_t> index_;  // live slots by path
};

uint32_t Crc32(std::string_view data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

bool IsLink(const Node& n) { return n.target_layer != n.layer || n.target_entry != n.entry; }

}  // namespace

Result<MergedTree> Flatten(std::span<const toc::Toc* const> layers) {
  if (layers.size() >= kSynthetic) return Status::InvalidArgument("too many layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l]->entries.size() >= kNone) {
      return Status::InvalidArgument("layer " + std::to_string(l) + " has too many entries");
    }
  }
  Builder b(layers);
  SL_RETURN_IF_ERROR(b.Run());
  return b.Output();
}

std::string EncodeMergedTree(const MergedTree& tree) {
  std::string out;
  out.reserve(16 + 2 * tree.nodes.size());
  coding::PutFixed32(&out, kMagic);
  coding::PutFixed16(&out, kVersion);
  coding::PutFixed16(&out, 0);
  coding::PutVarint64(&out, tree.nodes.size());
  std::unordered_map<uint32_t, uint32_t> next;  // per layer: entry after the last one coded
  auto put_entry = [&](const Node& n) {
    uint32_t& expected = next[n.layer];  // 0 when new
    coding::PutVarsint64(&out, int64_t{n.entry} - int64_t{expected});
  };
  const auto& nodes = tree.nodes;
  for (size_t i = 0; i < nodes.size();) {
    const Node& n = nodes[i];
    if (n.layer == kSynthetic) {
      coding::PutVarint64(&out, kKindSynthetic);
      coding::PutLengthPrefixed(&out, n.path);
      ++i;
    } else if (IsLink(n)) {
      coding::PutVarint64(&out, (uint64_t{n.layer} << 2) | kKindHardlink);
      put_entry(n);
      coding::PutVarint64(&out, n.target_layer);
      coding::PutVarint64(&out, n.target_entry);
      next[n.layer] = n.entry + 1;
      ++i;
    } else {
      size_t run = 1;
      while (i + run < nodes.size()) {
        const Node& m = nodes[i + run];
        if (m.layer != n.layer || IsLink(m) || uint64_t{m.entry} != uint64_t{n.entry} + run) break;
        ++run;
      }
      coding::PutVarint64(&out, (uint64_t{n.layer} << 2) | kKindEntries);
      put_entry(n);
      coding::PutVarint64(&out, run - 1);
      next[n.layer] = static_cast<uint32_t>(n.entry + run);
      i += run;
    }
  }
  coding::PutFixed32(&out, Crc32(out));
  return out;
}

Result<MergedTree> DecodeMergedTree(std::string_view data,
                                    std::span<const toc::Toc* const> layers) {
  auto bad = [](std::string what) { return Status::Corruption("merged tree: " + what); };
  if (data.size() < 13) return bad("too short");
  coding::Decoder d(data.substr(0, data.size() - 4));
  uint32_t magic = 0, stored_crc;
  uint16_t version = 0, flags = 0;
  (void)d.GetFixed32(&magic);
  if (magic != kMagic) return bad("bad magic");
  stored_crc =
      coding::DecodeFixed32(reinterpret_cast<const uint8_t*>(data.data() + data.size() - 4));
  if (Crc32(data.substr(0, data.size() - 4)) != stored_crc) return bad("checksum mismatch");
  (void)d.GetFixed16(&version);
  (void)d.GetFixed16(&flags);
  if (version != kVersion) {
    return Status::NotSupported("merged tree version " + std::to_string(version) +
                                " (this build reads " + std::to_string(kVersion) + ")");
  }
  if (flags != 0) return bad("unknown flags " + std::to_string(flags));
  uint64_t count;
  if (!d.GetVarint64(&count)) return bad("truncated header");
  uint64_t total_entries = 0;
  for (const toc::Toc* t : layers) total_entries += t->entries.size();
  if (count == 0) return bad("no root");
  if (count > total_entries + d.remaining()) return bad("node count exceeds data");

  MergedTree tree;
  tree.nodes.reserve(count);
  std::vector<uint64_t> next(layers.size(), 0);
  std::vector<size_t> open_dirs;  // indices of the directories enclosing the current node
  auto entry_at = [&](uint32_t l, uint32_t e) -> const tar::Entry& {
    return layers[l]->entries[e].meta;
  };
  // Checks node i (just appended) against the tree so far.
  auto check_node = [&](size_t i, bool dir) -> Status {
    const Node& n = tree.nodes[i];
    std::string where = "node " + std::to_string(i) + " " + Quote(n.path) + ": ";
    if (!WellFormed(n.path)) return bad(where + "malformed path");
    if (i == 0) {
      if (n.path != ".") return bad(where + "first node is not the root");
      if (!dir) return bad(where + "the root is not a directory");
    } else {
      if (ComparePreorder(tree.nodes[i - 1].path, n.path) >= 0) {
        return bad(where + "out of order or duplicate");
      }
      std::string_view name = BaseName(n.path);
      if (IsWhiteoutName(name)) return bad(where + "whiteout in the tree");
      std::string_view parent = ParentOf(n.path);
      while (!open_dirs.empty() && tree.nodes[open_dirs.back()].path != parent)
        open_dirs.pop_back();
      if (open_dirs.empty()) return bad(where + "parent missing or not a directory");
    }
    if (dir) open_dirs.push_back(i);
    return Status::Ok();
  };
  auto get_entry = [&](uint32_t l, uint64_t* e) -> bool {
    int64_t delta;
    if (!d.GetVarsint64(&delta)) return false;
    // next[l] <= entries.size() < 2^32 and |delta| < 2^63: no overflow in int64 arithmetic
    // once delta is range-checked.
    int64_t base = static_cast<int64_t>(next[l]);
    if (delta < -base || delta > int64_t{0xffffffff}) return false;
    *e = static_cast<uint64_t>(base + delta);
    return true;
  };

  while (tree.nodes.size() < count) {
    size_t i = tree.nodes.size();
    std::string where = "node " + std::to_string(i) + ": ";
    uint64_t head;
    if (!d.GetVarint64(&head)) return bad(where + "truncated");
    uint64_t kind = head & 3, layer = head >> 2;
    if (kind == kKindSynthetic) {
      std::string_view path;
      if (layer != 0) return bad(where + "synthetic directory with a layer");
      if (!d.GetLengthPrefixed(&path)) return bad(where + "truncated");
      tree.nodes.push_back(Node{kSynthetic, 0, kSynthetic, 0, std::string(path)});
      SL_RETURN_IF_ERROR(check_node(i, true));
      continue;
    }
    if (kind != kKindEntries && kind != kKindHardlink) return bad(where + "unknown record kind");
    if (layer >= layers.size())
      return bad(where + "layer " + std::to_string(layer) + " out of range");
    auto l = static_cast<uint32_t>(layer);
    const auto& entries = layers[l]->entries;
    uint64_t first;
    if (!get_entry(l, &first)) return bad(where + "bad entry index");
    if (kind == kKindHardlink) {
      uint64_t tl, te;
      if (!d.GetVarint64(&tl) || !d.GetVarint64(&te)) return bad(where + "truncated");
      if (first >= entries.size()) return bad(where + "entry out of range");
      if (tl > l || te >= layers[tl]->entries.size()) {
        return bad(where + "hard link target out of range");
      }
      const tar::Entry& m = entry_at(l, static_cast<uint32_t>(first));
      const tar::Entry& t = entry_at(static_cast<uint32_t>(tl), static_cast<uint32_t>(te));
      if (m.type != EntryType::kHardlink) return bad(where + "link record for a non-link entry");
      if (t.type == EntryType::kHardlink || t.type == EntryType::kDirectory) {
        return bad(where + "hard link target is a " + std::string(tar::EntryTypeName(t.type)));
      }
      tree.nodes.push_back(Node{l, static_cast<uint32_t>(first), static_cast<uint32_t>(tl),
                                static_cast<uint32_t>(te), m.path});
      SL_RETURN_IF_ERROR(check_node(i, false));
      next[l] = first + 1;
      continue;
    }
    uint64_t more;
    if (!d.GetVarint64(&more)) return bad(where + "truncated");
    if (more >= count - i || first >= entries.size() || more >= entries.size() - first) {
      return bad(where + "entry run out of range");
    }
    for (uint64_t k = 0; k <= more; ++k) {
      auto e = static_cast<uint32_t>(first + k);
      const tar::Entry& m = entry_at(l, e);
      if (m.type == EntryType::kHardlink) {
        return bad("node " + std::to_string(tree.nodes.size()) + ": hard link without a target");
      }
      tree.nodes.push_back(Node{l, e, l, e, m.path});
      SL_RETURN_IF_ERROR(check_node(tree.nodes.size() - 1, m.type == EntryType::kDirectory));
    }
    next[l] = first + more + 1;
  }
  if (!d.empty()) return bad("trailing bytes");
  return tree;
}

ResolvedNode Resolve(const MergedTree& tree, size_t i, std::span<const toc::Toc* const> layers) {
  ResolvedNode r;
  r.node = &tree.nodes[i];
  if (r.node->layer == kSynthetic) return r;
  r.entry = &layers[r.node->layer]->entries[r.node->entry];
  r.target = &layers[r.node->target_layer]->entries[r.node->target_entry];
  return r;
}

namespace {

using nlohmann::ordered_json;

// As the ToC's JSON view: invalid UTF-8 gets U+FFFD replacements plus an exact base64 twin.
void PutString(ordered_json& j, const std::string& key, const std::string& value) {
  j[key] = value;
  if (!coding::IsValidUtf8(value)) j[key + "_base64"] = coding::Base64Encode(value);
}

}  // namespace

std::string MergedTreeToJson(const MergedTree& tree, std::span<const toc::Toc* const> layers) {
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    ResolvedNode r = Resolve(tree, i, layers);
    ordered_json j;
    PutString(j, "path", r.node->path);
    if (r.entry == nullptr) {
      j["type"] = "dir";
      j["mode"] = 0755;
      j["uid"] = 0;
      j["gid"] = 0;
      j["size"] = 0;
      j["mtime"] = 0;
      j["layer"] = -1;
    } else {
      // What stat(2) shows: a hard link has its target's inode, type and metadata.
      const tar::Entry& m = r.target->meta;
      j["type"] = tar::EntryTypeName(m.type);
      j["mode"] = m.mode;
      j["uid"] = m.uid;
      j["gid"] = m.gid;
      j["size"] = m.size;
      j["mtime"] = m.mtime_sec;
      if (!m.linkname.empty()) PutString(j, "linkname", m.linkname);
      if (m.type == EntryType::kRegular) j["digest"] = r.target->digest.ToString();
      j["layer"] = r.node->layer;
      if (r.target != r.entry) {
        j["link_layer"] = r.node->target_layer;
        PutString(j, "link_path", m.path);
      }
    }
    out.push_back(std::move(j));
  }
  return out.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace starlight::flatten
