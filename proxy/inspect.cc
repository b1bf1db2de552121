#include "proxy/inspect.h"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/flatten/flatten.h"
#include "core/toc/toc.h"
#include "registry-hook/events.h"

namespace starlight::proxy {
namespace {

using nlohmann::ordered_json;

std::string Short(const digest::Digest& d) { return d.ToString().substr(0, 19); }

std::string Human(uint64_t n) {
  char buf[32];
  if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.2f MB", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.1f kB", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

ordered_json ParseOrString(const std::string& s) {
  try {
    return ordered_json::parse(s);
  } catch (const ordered_json::exception&) {
    return s;
  }
}

struct ImageSummary {
  std::vector<std::string> platforms;
  size_t layers = 0;
  bool seekable = true;
  uint64_t files = 0;
  bool complete = true;  // every platform image is in the DB
};

// Layer records and their decoded ToCs, each read once per rendering.
class TocCache {
 public:
  explicit TocCache(dirdb::DirectoryDb* db) : db_(db) {}
  Result<const toc::Toc*> Get(const digest::Digest& d, dirdb::LayerRecord* record = nullptr) {
    auto it = cache_.find(d);
    if (it == cache_.end()) {
      SL_ASSIGN_OR_RETURN(auto rec, db_->GetLayer(d));
      if (!rec)
        return Status::Corruption("layer " + d.ToString() + " is referenced but not stored");
      Entry e;
      e.record = std::move(*rec);
      if (e.record.seekable) {
        SL_ASSIGN_OR_RETURN(toc::Toc t, toc::DecodeToc(e.record.toc));
        e.toc = std::make_unique<toc::Toc>(std::move(t));
      }
      it = cache_.emplace(d, std::move(e)).first;
    }
    if (record) *record = it->second.record;
    return it->second.toc.get();
  }

 private:
  struct Entry {
    dirdb::LayerRecord record;
    std::unique_ptr<toc::Toc> toc;
  };
  dirdb::DirectoryDb* db_;
  std::map<digest::Digest, Entry> cache_;
};

Result<std::vector<digest::Digest>> PlatformImages(dirdb::DirectoryDb* db, const digest::Digest& d,
                                                   bool is_index) {
  if (!is_index) return std::vector<digest::Digest>{d};
  SL_ASSIGN_OR_RETURN(auto idx, db->GetIndex(d));
  if (!idx) return Status::Corruption("index " + d.ToString() + " is tagged but not stored");
  std::vector<digest::Digest> out;
  for (const auto& m : idx->manifests) out.push_back(m.digest);
  return out;
}

Result<ImageSummary> Summarize(dirdb::DirectoryDb* db, const digest::Digest& d, bool is_index) {
  ImageSummary s;
  SL_ASSIGN_OR_RETURN(auto images, PlatformImages(db, d, is_index));
  for (const auto& i : images) {
    SL_ASSIGN_OR_RETURN(auto img, db->GetImage(i));
    if (!img) {
      s.complete = false;  // e.g. an artifact entry of an index
      continue;
    }
    s.platforms.push_back(img->platform);
    s.layers += img->layers.size();
    if (!img->seekable) s.seekable = false;
    if (img->seekable) {
      TocCache cache(db);
      std::vector<const toc::Toc*> tocs;
      for (const auto& l : img->layers) {
        SL_ASSIGN_OR_RETURN(const toc::Toc* t, cache.Get(l));
        tocs.push_back(t);
      }
      SL_ASSIGN_OR_RETURN(flatten::MergedTree tree, flatten::DecodeMergedTree(img->merged, tocs));
      s.files += tree.nodes.size();
    }
  }
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

struct TreeCounts {
  uint64_t dirs = 0, files = 0, symlinks = 0, hardlinks = 0, other = 0, synthetic = 0, bytes = 0;
};

TreeCounts Count(const flatten::MergedTree& tree, const std::vector<const toc::Toc*>& tocs) {
  TreeCounts c;
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    flatten::ResolvedNode r = flatten::Resolve(tree, i, tocs);
    if (r.entry == nullptr) {
      ++c.synthetic;
      ++c.dirs;
      continue;
    }
    if (r.entry->meta.type == tar::EntryType::kHardlink) {
      ++c.hardlinks;
      continue;
    }
    switch (r.entry->meta.type) {
      case tar::EntryType::kDirectory:
        ++c.dirs;
        break;
      case tar::EntryType::kRegular:
        ++c.files;
        c.bytes += r.entry->meta.size;
        break;
      case tar::EntryType::kSymlink:
        ++c.symlinks;
        break;
      default:
        ++c.other;
        break;
    }
  }
  return c;
}

}  // namespace

Result<RepoRef> ParseRepoRef(const std::string& s, const std::string& upstream) {
  std::string rest = s;
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string first = rest.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
        first == "localhost") {
      if (first != upstream) {
        return Status::InvalidArgument("'" + s + "' names registry " + first +
                                       ", but this proxy serves " +
                                       (upstream.empty() ? "no registry" : upstream));
      }
      rest = rest.substr(slash + 1);
    }
  }
  RepoRef r;
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    r.reference = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!digest::Digest::Parse(r.reference).ok()) {
      return Status::InvalidArgument("'" + s + "': bad digest");
    }
  } else {
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
      r.reference = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
    } else {
      r.reference = "latest";
    }
  }
  r.repository = rest;
  if (r.repository.empty() || r.reference.empty())
    return Status::InvalidArgument("'" + s + "' is not repo[:tag|@digest]");
  if (!hook::IsValidRepository(r.repository)) {
    return Status::InvalidArgument(
        "'" + s +
        "': a repository is lowercase [a-z0-9] components joined by / and separators . _ -");
  }
  if (r.reference.rfind("sha256:", 0) != 0 && !hook::IsValidTag(r.reference)) {
    return Status::InvalidArgument("'" + s + "': a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  }
  return r;
}

Result<std::string> RenderImages(dirdb::DirectoryDb* db, bool json) {
  std::vector<dirdb::TagRecord> tags;
  SL_RETURN_IF_ERROR(db->ListTags("", [&](const dirdb::TagRecord& t) {
    tags.push_back(t);
    return true;
  }));
  ordered_json out = ordered_json::array();
  std::string text;
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %-19s %-8s %-22s %6s %-8s %8s\n", "IMAGE", "DIGEST",
                "KIND", "PLATFORMS", "LAYERS", "SEEKABLE", "ENTRIES");
  text += line;
  for (const auto& t : tags) {
    SL_ASSIGN_OR_RETURN(ImageSummary s, Summarize(db, t.digest, t.is_index));
    std::string name = t.repository + ":" + t.tag;
    if (json) {
      out.push_back({{"repository", t.repository},
                     {"tag", t.tag},
                     {"digest", t.digest.ToString()},
                     {"kind", t.is_index ? "index" : "manifest"},
                     {"platforms", s.platforms},
                     {"layers", s.layers},
                     {"seekable", s.seekable},
                     {"complete", s.complete},
                     {"entries", s.files},
                     {"updated_at", t.updated_at}});
    } else {
      std::snprintf(line, sizeof line, "%-40s %-19s %-8s %-22s %6zu %-8s %8llu\n", name.c_str(),
                    Short(t.digest).c_str(), t.is_index ? "index" : "manifest",
                    Join(s.platforms, ",").c_str(), s.layers, s.seekable ? "yes" : "NO",
                    static_cast<unsigned long long>(s.files));
      text += line;
    }
  }
  if (json) return out.dump(2) + "\n";
  if (tags.empty()) text += "(no images)\n";
  return text;
}

Result<std::string> RenderShow(dirdb::DirectoryDb* db, const RepoRef& ref, bool json) {
  digest::Digest top;
  bool is_index = false;
  std::string tag;
  if (ref.reference.rfind("sha256:", 0) == 0) {
    SL_ASSIGN_OR_RETURN(top, digest::Digest::Parse(ref.reference));
    SL_ASSIGN_OR_RETURN(auto idx, db->GetIndex(top));
    is_index = idx.has_value();
    if (!is_index) {
      SL_ASSIGN_OR_RETURN(auto img, db->GetImage(top));
      if (!img)
        return Status::NotFound(ref.repository + "@" + ref.reference +
                                " is not in the directory DB");
    }
  } else {
    SL_ASSIGN_OR_RETURN(auto t, db->GetTag(ref.repository, ref.reference));
    if (!t)
      return Status::NotFound(ref.repository + ":" + ref.reference + " is not in the directory DB");
    top = t->digest;
    is_index = t->is_index;
    tag = t->tag;
  }
  ordered_json out;
  out["repository"] = ref.repository;
  out["reference"] = ref.reference;
  out["digest"] = top.ToString();
  out["kind"] = is_index ? "index" : "manifest";
  std::string text = ref.repository +
                     (tag.empty() ? "@" + top.ToString() : ":" + tag + "  " + top.ToString()) +
                     (is_index ? "  (index)" : "") + "\n";
  if (is_index) {
    SL_ASSIGN_OR_RETURN(auto idx, db->GetIndex(top));
    out["media_type"] = idx->media_type;
    out["manifest"] = ParseOrString(idx->manifest);
  }
  SL_ASSIGN_OR_RETURN(auto images, PlatformImages(db, top, is_index));
  TocCache cache(db);
  ordered_json jimages = ordered_json::array();
  for (const auto& d : images) {
    SL_ASSIGN_OR_RETURN(auto img, db->GetImage(d));
    if (!img) {
      jimages.push_back({{"digest", d.ToString()}, {"missing", true}});
      text += "  " + d.ToString() + ": not an image (not ingested)\n";
      continue;
    }
    ordered_json ji;
    ji["digest"] = d.ToString();
    ji["platform"] = img->platform;
    ji["media_type"] = img->media_type;
    ji["config_digest"] = img->config_digest.ToString();
    ji["seekable"] = img->seekable;
    ji["reason"] = img->reason;
    ji["manifest"] = ParseOrString(img->manifest);
    ji["config"] = ParseOrString(img->config);
    text += "platform " + img->platform + "  manifest " + d.ToString() + "  " +
            (img->seekable ? "seekable" : "NOT seekable") + "\n";
    ordered_json jl = ordered_json::array();
    std::vector<const toc::Toc*> tocs;
    for (size_t i = 0; i < img->layers.size(); ++i) {
      dirdb::LayerRecord rec;
      SL_ASSIGN_OR_RETURN(const toc::Toc* t, cache.Get(img->layers[i], &rec));
      tocs.push_back(t);
      ordered_json l = {{"digest", rec.digest.ToString()},
                        {"media_type", rec.media_type},
                        {"size", rec.size},
                        {"seekable", rec.seekable},
                        {"reason", rec.reason},
                        {"diff_id", rec.diff_id.ToString()},
                        {"toc_bytes", rec.toc.size()},
                        {"fetched_bytes", rec.fetched_bytes}};
      char line[512];
      if (rec.seekable) {
        if (json) l["toc"] = ordered_json::parse(toc::TocToJson(*t));
        std::snprintf(line, sizeof line,
                      "  layer %zu %s %10s  seekable  %6zu entries  ToC %s, fetched %s (%.2f %%)\n",
                      i, Short(rec.digest).c_str(), Human(rec.size).c_str(), t->entries.size(),
                      Human(rec.toc.size()).c_str(), Human(rec.fetched_bytes).c_str(),
                      rec.size ? 100.0 * rec.fetched_bytes / rec.size : 0.0);
      } else {
        std::snprintf(line, sizeof line, "  layer %zu %s %10s  NOT seekable: %s\n", i,
                      Short(rec.digest).c_str(), Human(rec.size).c_str(), rec.reason.c_str());
      }
      text += line;
      jl.push_back(std::move(l));
    }
    ji["layers"] = std::move(jl);
    if (img->seekable) {
      SL_ASSIGN_OR_RETURN(flatten::MergedTree tree, flatten::DecodeMergedTree(img->merged, tocs));
      TreeCounts c = Count(tree, tocs);
      ji["merged_bytes"] = img->merged.size();
      if (json) ji["merged"] = ordered_json::parse(flatten::MergedTreeToJson(tree, tocs));
      text += "  merged tree: " + std::to_string(tree.nodes.size()) + " entries (" +
              std::to_string(c.dirs) + " directories, " + std::to_string(c.files) + " files, " +
              std::to_string(c.symlinks) + " symlinks, " + std::to_string(c.hardlinks) +
              " hard links, " + std::to_string(c.other) + " other), " + Human(c.bytes) +
              " of file content, stored in " + Human(img->merged.size()) + "\n";
    } else {
      text += "  no merged tree: " + img->reason + "\n";
    }
    jimages.push_back(std::move(ji));
  }
  out["images"] = std::move(jimages);
  if (json) return out.dump(2) + "\n";
  return text;
}

Result<std::string> RenderStats(dirdb::DirectoryDb* db, bool json) {
  SL_ASSIGN_OR_RETURN(dirdb::DbStats s, db->Stats());
  if (json) {
    ordered_json j = {{"layers", s.layers},
                      {"seekable_layers", s.seekable_layers},
                      {"images", s.images},
                      {"indexes", s.indexes},
                      {"tags", s.tags},
                      {"rank_paths", s.rank_paths},
                      {"queued_events", s.queued_events},
                      {"toc_bytes", s.toc_bytes},
                      {"merged_bytes", s.merged_bytes},
                      {"disk_bytes", s.disk_bytes}};
    return j.dump(2) + "\n";
  }
  std::string t;
  t += "layers:         " + std::to_string(s.layers) + " (" + std::to_string(s.seekable_layers) +
       " seekable)\n";
  t += "images:         " + std::to_string(s.images) + " platform manifests, " +
       std::to_string(s.indexes) + " indexes\n";
  t += "tags:           " + std::to_string(s.tags) + "\n";
  t += "ranked paths:   " + std::to_string(s.rank_paths) + "\n";
  t += "queued events:  " + std::to_string(s.queued_events) + "\n";
  t += "ToCs stored:    " + Human(s.toc_bytes) + "\n";
  t += "merged trees:   " + Human(s.merged_bytes) + "\n";
  t += "on disk:        " + Human(s.disk_bytes) + "\n";
  return t;
}

}  // namespace starlight::proxy
