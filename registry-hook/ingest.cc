#include "registry-hook/ingest.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/flatten/flatten.h"
#include "core/oci/manifest.h"
#include "core/oci/store.h"
#include "core/seekable/format.h"
#include "core/seekable/reader.h"
#include "core/toc/toc.h"

namespace starlight::hook {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Largest ToC (compressed, in its gzip members) read into memory; a 100K-file layer's is a few
// MB. Beyond: recorded as not seekable rather than read.
constexpr uint64_t kMaxTocMembers = 256ull << 20;

bool IsDigest(const std::string& ref) { return ref.rfind("sha256:", 0) == 0; }

struct LayerState {
  dirdb::LayerRecord record;
  std::shared_ptr<const toc::Toc> toc;  // decoded, seekable layers only
};

// One ingestion: remembers the layers and manifests it has seen so an index whose platforms
// share layers fetches each ToC once.
class Run {
 public:
  Run(registry::RegistryClient* client, dirdb::DirectoryDb* db, const IngestOptions& options,
      const std::string& repo, dirdb::WriteBatch* batch, IngestReport* report)
      : client_(client), db_(db), options_(options), repo_(repo), batch_(batch), report_(report) {}

  Status Document(const registry::Manifest& m, const std::string& tag) {
    report_->digest = m.digest;
    if (oci::IsIndexMediaType(m.media_type)) {
      report_->is_index = true;
      SL_ASSIGN_OR_RETURN(oci::IndexView index, oci::ParseIndex(m.bytes, m.media_type));
      dirdb::IndexRecord rec;
      rec.digest = m.digest;
      rec.media_type = index.media_type;
      rec.manifest = m.bytes;
      rec.ingested_at = NowSeconds();
      for (const auto& d : index.manifests) {
        rec.manifests.push_back({d.digest, d.platform});
        if (!oci::IsManifestMediaType(d.media_type)) continue;  // nested indexes, artifacts
        SL_RETURN_IF_ERROR(Image(d.digest, nullptr).WithContext("platform " + d.platform));
      }
      batch_->PutIndex(rec);
    } else if (oci::IsManifestMediaType(m.media_type)) {
      SL_RETURN_IF_ERROR(Image(m.digest, &m));
    } else {
      return Status::InvalidArgument("manifest " + m.digest.ToString() +
                                     " has unsupported media type '" + m.media_type + "'");
    }
    if (!tag.empty()) {
      dirdb::TagRecord t;
      t.repository = repo_;
      t.tag = tag;
      t.digest = m.digest;
      t.is_index = report_->is_index;
      t.updated_at = NowSeconds();
      batch_->PutTag(t);
      report_->tag = tag;
    }
    return Status::Ok();
  }

 private:
  Status Image(const digest::Digest& d, const registry::Manifest* given) {
    if (images_.count(d)) return Status::Ok();
    images_.insert(d);
    SL_ASSIGN_OR_RETURN(auto existing, db_->GetImage(d));
    if (existing) {
      ++report_->manifests_known;
      return Status::Ok();
    }
    registry::Manifest fetched;
    if (given == nullptr) {
      SL_ASSIGN_OR_RETURN(fetched, client_->GetManifest(repo_, d.ToString()));
      given = &fetched;
    }
    std::string what = "manifest " + d.ToString();
    SL_ASSIGN_OR_RETURN(oci::ManifestView view,
                        oci::ParseManifest(given->bytes, given->media_type));
    if (view.config.size > oci::kMaxDocumentSize) {
      return Status::InvalidArgument(what + ": config of " + std::to_string(view.config.size) +
                                     " bytes is too large");
    }
    dirdb::ImageRecord rec;
    rec.digest = d;
    rec.media_type = view.media_type;
    rec.manifest = given->bytes;
    rec.config_digest = view.config.digest;
    SL_RETURN_IF_ERROR(client_
                           ->FetchBlob(repo_, view.config.digest,
                                       [&](std::string_view part) {
                                         rec.config.append(part);
                                         return rec.config.size() > oci::kMaxDocumentSize
                                                    ? Status::InvalidArgument("config is too large")
                                                    : Status::Ok();
                                       })
                           .WithContext(what + ": fetching config"));
    SL_ASSIGN_OR_RETURN(oci::ConfigView config, oci::ParseConfig(rec.config));
    if (config.diff_ids.size() != view.layers.size()) {
      return Status::InvalidArgument(what + " lists " + std::to_string(view.layers.size()) +
                                     " layers but its config " +
                                     std::to_string(config.diff_ids.size()) + " diff_ids");
    }
    rec.platform = config.platform;
    for (const auto& l : view.layers) rec.layers.push_back(l.digest);
    SL_RETURN_IF_ERROR(Layers(view, config).WithContext(what));

    // The image is seekable when every layer is, as this manifest and config describe it:
    // the layer records hold facts about blobs only, shared by every image using them.
    std::vector<const toc::Toc*> tocs;
    for (size_t i = 0; i < view.layers.size() && rec.reason.empty(); ++i) {
      const auto& l = view.layers[i];
      const LayerState& s = layers_.at(l.digest);
      std::string which = "layer " + std::to_string(i) + " (" + l.digest.ToString() + ")";
      if (!oci::IsGzipLayerMediaType(l.media_type)) {
        rec.reason = which + ": media type " + l.media_type + " is not a gzip layer";
      } else if (!s.record.seekable) {
        rec.reason = which + ": " + s.record.reason;
      } else if (s.toc->diff_id != config.diff_ids[i]) {
        rec.reason = which + ": ToC diffID " + s.toc->diff_id.ToString() +
                     " differs from the config's " + config.diff_ids[i].ToString();
      }
      tocs.push_back(s.toc.get());
    }
    if (rec.reason.empty()) {
      auto tree = flatten::Flatten(tocs);
      if (tree.ok()) {
        rec.merged = flatten::EncodeMergedTree(*tree);
        report_->files += tree->nodes.size();
      } else {
        // Fine one by one, but the layers cannot be stacked: no merged tree to serve.
        rec.reason = "the layers do not stack: " + tree.status().message();
      }
    }
    rec.seekable = rec.reason.empty();
    if (!rec.seekable) ++report_->images_not_seekable;
    rec.ingested_at = NowSeconds();
    batch_->PutImage(rec);
    ++report_->manifests;
    return Status::Ok();
  }

  // Fills layers_ for every layer of the manifest: from this run, from the DB, or from the
  // registry (ToC fetches in parallel).
  Status Layers(const oci::ManifestView& view, const oci::ConfigView& config) {
    std::vector<size_t> fetch;  // indexes into view.layers
    std::set<digest::Digest> queued;
    for (size_t i = 0; i < view.layers.size(); ++i) {
      const auto& l = view.layers[i];
      if (layers_.count(l.digest) || queued.count(l.digest)) {
        ++report_->layers_known;
        continue;
      }
      SL_ASSIGN_OR_RETURN(auto known, db_->GetLayer(l.digest));
      if (known) {
        LayerState s;
        s.record = std::move(*known);
        if (s.record.seekable) {
          SL_ASSIGN_OR_RETURN(toc::Toc t,
                              toc::DecodeToc(s.record.toc)
                                  .WithContext("stored ToC of layer " + l.digest.ToString()));
          s.toc = std::make_shared<const toc::Toc>(std::move(t));
        }
        layers_.emplace(l.digest, std::move(s));
        ++report_->layers_known;
        continue;
      }
      queued.insert(l.digest);
      fetch.push_back(i);
    }
    if (fetch.empty()) return Status::Ok();

    std::vector<Result<LayerState>> results(fetch.size(), Status::Internal("not fetched"));
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t k; (k = next.fetch_add(1)) < fetch.size();) {
        size_t i = fetch[k];
        results[k] = FetchLayer(view.layers[i], config.diff_ids[i]);
      }
    };
    int n = std::max(1, std::min<int>(options_.parallel_layers, static_cast<int>(fetch.size())));
    std::vector<std::thread> threads;
    for (int t = 1; t < n; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();

    for (size_t k = 0; k < fetch.size(); ++k) {
      const auto& l = view.layers[fetch[k]];
      if (!results[k].ok()) return results[k].status().WithContext("layer " + l.digest.ToString());
      LayerState s = std::move(*results[k]);
      report_->bytes_fetched += s.record.fetched_bytes;
      report_->new_layer_bytes += s.record.size;
      ++report_->layers_new;
      if (!s.record.seekable) ++report_->layers_not_seekable;
      batch_->PutLayer(s.record);
      layers_.emplace(l.digest, std::move(s));
    }
    return Status::Ok();
  }

  // Reads a layer's footer and ToC. Facts about the blob (not seekable, damaged) become a
  // record; failures to talk to the registry are errors.
  Result<LayerState> FetchLayer(const oci::Descriptor& l, const digest::Digest& diff_id) {
    LayerState s;
    s.record.digest = l.digest;
    s.record.media_type = l.media_type;
    s.record.size = l.size;
    s.record.diff_id = diff_id;
    s.record.ingested_at = NowSeconds();
    auto not_seekable = [&](std::string reason) -> Result<LayerState> {
      s.record.seekable = false;
      s.record.reason = std::move(reason);
      return std::move(s);
    };
    // Whatever the descriptor's media type says, only the blob's own bytes decide (the image
    // checks the media type): the record is shared by every image that uses this blob.
    if (l.size < seekable::kFooterMemberSize)
      return not_seekable("blob too small for a Starlight footer");
    auto fetched_footer = client_->FetchBlobRange(
        repo_, l.digest, l.size - seekable::kFooterMemberSize, seekable::kFooterMemberSize);
    if (!fetched_footer.ok()) {
      // docker-registry accepts a descriptor larger than its blob; the range past the end then
      // fails like registry trouble and would be retried forever. It is a fact about the image.
      auto real = client_->StatBlob(repo_, l.digest);
      if (real.ok() && real->has_value() && **real != l.size) {
        return Status::InvalidArgument("descriptor says " + std::to_string(l.size) +
                                       " bytes but the blob has " + std::to_string(**real));
      }
      return fetched_footer.status();
    }
    std::string footer_bytes = std::move(*fetched_footer);
    s.record.fetched_bytes += footer_bytes.size();
    auto footer = seekable::DecodeFooterMember(footer_bytes);
    if (!footer.ok()) {
      if (footer.status().code() == Code::kNotFound) {
        // A descriptor smaller than its blob points the footer read into the middle of the
        // blob: make sure of the size before recording a fact about the blob.
        SL_ASSIGN_OR_RETURN(auto real, client_->StatBlob(repo_, l.digest));
        if (!real)
          return Status::NotFound("blob " + l.digest.ToString() + " is not in the registry");
        if (*real != l.size) {
          return Status::InvalidArgument("descriptor says " + std::to_string(l.size) +
                                         " bytes but the blob has " + std::to_string(*real));
        }
        return not_seekable("no Starlight footer: not converted to the seekable format");
      }
      return not_seekable("footer: " + footer.status().ToString());
    }
    uint64_t limit = l.size - seekable::kFooterMemberSize;
    if (footer->toc_offset > limit || footer->toc_members_size > limit - footer->toc_offset ||
        footer->toc_size > seekable::kMaxTocSize) {
      return not_seekable("footer points outside the blob");
    }
    if (footer->toc_members_size > kMaxTocMembers) {
      return not_seekable("ToC of " + std::to_string(footer->toc_members_size) +
                          " bytes exceeds the " + std::to_string(kMaxTocMembers) + "-byte limit");
    }
    SL_ASSIGN_OR_RETURN(
        std::string members,
        client_->FetchBlobRange(repo_, l.digest, footer->toc_offset, footer->toc_members_size));
    s.record.fetched_bytes += members.size();
    auto embedded = seekable::DecodeTocMembers(members, *footer);
    if (!embedded.ok()) return not_seekable("ToC: " + embedded.status().ToString());
    s.record.seekable = true;
    s.record.toc = std::move(embedded->encoded);
    s.toc = std::make_shared<const toc::Toc>(std::move(embedded->toc));
    return s;
  }

 private:
  registry::RegistryClient* client_;
  dirdb::DirectoryDb* db_;
  const IngestOptions& options_;
  std::string repo_;
  dirdb::WriteBatch* batch_;
  IngestReport* report_;
  std::map<digest::Digest, LayerState> layers_;
  std::set<digest::Digest> images_;
};

std::string Mb(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", n / 1e6);
  return buf;
}

}  // namespace

Ingester::Ingester(registry::RegistryClient* client, dirdb::DirectoryDb* db, IngestOptions options)
    : client_(client), db_(db), options_(options) {}

Result<IngestReport> Ingester::Ingest(const std::string& repository, const std::string& reference,
                                      dirdb::WriteBatch* batch) {
  auto t0 = std::chrono::steady_clock::now();
  IngestReport report;
  report.repository = repository;
  SL_ASSIGN_OR_RETURN(registry::Manifest m, client_->GetManifest(repository, reference));
  Run run(client_, db_, options_, repository, batch, &report);
  SL_RETURN_IF_ERROR(run.Document(m, IsDigest(reference) ? "" : reference));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

Result<std::vector<std::string>> Ingester::Untag(const std::string& repository,
                                                 const std::string& tag, const std::string& digest,
                                                 dirdb::WriteBatch* batch) {
  std::vector<std::string> candidates;
  if (!tag.empty()) {
    candidates.push_back(tag);
  } else {
    SL_ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(digest));
    SL_RETURN_IF_ERROR(db_->ListTags(repository, [&](const dirdb::TagRecord& t) {
      if (t.repository == repository && t.digest == d) candidates.push_back(t.tag);
      return true;
    }));
  }
  std::vector<std::string> removed;
  for (const auto& t : candidates) {
    SL_ASSIGN_OR_RETURN(auto current, db_->GetTag(repository, t));
    if (!current) continue;
    auto served = client_->GetManifest(repository, t);
    if (served.ok() && served->digest == current->digest) continue;  // pushed again since
    if (!served.ok() && served.status().code() != Code::kNotFound) return served.status();
    batch->DeleteTag(repository, t);
    removed.push_back(t);
  }
  return removed;
}

std::string DescribeIngestReport(const IngestReport& r) {
  std::string s = r.repository + (r.tag.empty() ? "@" + r.digest.ToString()
                                                : ":" + r.tag + " (" + r.digest.ToString() + ")");
  s += r.is_index ? ", index" : "";
  s += ": " + std::to_string(r.manifests) + " manifest(s) stored";
  if (r.manifests_known) s += " (" + std::to_string(r.manifests_known) + " known)";
  s += ", layers " + std::to_string(r.layers_new) + " new / " + std::to_string(r.layers_known) +
       " known";
  if (r.layers_not_seekable) s += ", " + std::to_string(r.layers_not_seekable) + " NOT seekable";
  if (r.images_not_seekable)
    s += ", " + std::to_string(r.images_not_seekable) + " image(s) NOT seekable";
  s += ", " + std::to_string(r.files) + " entries in merged trees";
  s += ", fetched " + Mb(r.bytes_fetched) + " of " + Mb(r.new_layer_bytes) + " new layer blobs";
  char t[32];
  std::snprintf(t, sizeof t, " in %.2f s", r.seconds);
  return s + t;
}

}  // namespace starlight::hook
