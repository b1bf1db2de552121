// The directory database: what the proxy knows about the images in the registry, without the
// blobs. Per layer its ToC (compact encoding) and whether it is seekable; per platform manifest
// the manifest and config verbatim, platform, layer list and merged tree; per index its
// manifests; tags -> digests per repository; access-rank statistics per repository and path;
// and the registry hook's durable event queue.
//
// DirectoryDb is the storage seam: LevelDB now (OpenLevelDb, owned by one process), a shared
// database for many proxy replicas later; tests/core/dirdb runs one conformance suite against
// every implementation. Key layout, value encodings and the schema version are specified in
// format-spec/directory-db.md. Records are content-addressed, so a layer shared by many images
// is stored once. Every Commit is atomic and durable: a crash never leaves half an image.
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest/digest.h"
#include "core/status/status.h"

namespace starlight::dirdb {

inline constexpr uint32_t kSchemaVersion = 1;

struct LayerRecord {
  digest::Digest digest;  // of the compressed blob
  std::string media_type;
  uint64_t size = 0;       // of the blob
  bool seekable = false;   // a fact about the blob: a valid Starlight footer and ToC
  std::string reason;      // why it is not seekable (empty when it is)
  digest::Digest diff_id;  // from the ToC when seekable, else from the first config seen
  std::string toc;         // EncodeToc bytes (format-spec/seekable-layer.md); empty unless seekable
  uint64_t fetched_bytes = 0;  // bytes read from the registry to index it
  int64_t ingested_at = 0;     // unix seconds
  bool operator==(const LayerRecord&) const = default;
};

// One platform manifest (an image).
struct ImageRecord {
  digest::Digest digest;  // of the manifest
  std::string media_type;
  std::string manifest;  // verbatim
  digest::Digest config_digest;
  std::string config;                  // verbatim
  std::string platform;                // "os/arch[/variant]" from the config
  std::vector<digest::Digest> layers;  // bottom to top
  // Every layer is seekable and its ToC's diffID matches the config, and the layers stack.
  bool seekable = false;
  std::string merged;  // EncodeMergedTree bytes (format-spec/merged-tree.md); empty unless seekable
  std::string reason;  // why the image is not seekable (empty when it is)
  int64_t ingested_at = 0;
  bool operator==(const ImageRecord&) const = default;
};

// An OCI index / Docker manifest list.
struct IndexRecord {
  digest::Digest digest;
  std::string media_type;
  std::string manifest;  // verbatim
  struct Platform {
    digest::Digest digest;
    std::string platform;  // "os/arch[/variant]"; "" when the descriptor names none
    bool operator==(const Platform&) const = default;
  };
  std::vector<Platform> manifests;  // in index order
  int64_t ingested_at = 0;
  bool operator==(const IndexRecord&) const = default;
};

struct TagRecord {
  std::string repository, tag;
  digest::Digest digest;  // of an ImageRecord or an IndexRecord
  bool is_index = false;
  int64_t updated_at = 0;
  bool operator==(const TagRecord&) const = default;
};

struct RankStat {
  uint64_t rank_sum = 0;
  uint64_t hits = 0;
  bool operator==(const RankStat&) const = default;
};

struct QueuedEvent {
  uint64_t seq = 0;  // assigned by Enqueue, increasing
  std::string body;  // opaque to the DB (the hook stores normalised JSON)
  bool operator==(const QueuedEvent&) const = default;
};

struct DbStats {
  uint64_t layers = 0, seekable_layers = 0, images = 0, indexes = 0, tags = 0;
  uint64_t rank_paths = 0, queued_events = 0;
  uint64_t toc_bytes = 0;     // sum of stored encoded ToCs
  uint64_t merged_bytes = 0;  // sum of stored merged trees
  uint64_t disk_bytes = 0;    // files of the database on disk (0 if not applicable)
};

// A set of writes applied atomically by DirectoryDb::Commit. Puts replace existing records.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void PutLayer(const LayerRecord& r);
  void PutImage(const ImageRecord& r);
  void PutIndex(const IndexRecord& r);
  void PutTag(const TagRecord& r);
  void DeleteTag(std::string_view repository, std::string_view tag);
  void DeleteEvent(uint64_t seq);  // acknowledge a queued event together with its effects
  bool empty() const;

  struct Op;  // implementation detail, shared with the implementations
  const std::vector<Op>& ops() const;

 private:
  std::vector<Op> ops_;
};

class DirectoryDb {
 public:
  virtual ~DirectoryDb() = default;

  virtual Result<std::optional<LayerRecord>> GetLayer(const digest::Digest& d) = 0;
  virtual Result<std::optional<ImageRecord>> GetImage(const digest::Digest& d) = 0;
  virtual Result<std::optional<IndexRecord>> GetIndex(const digest::Digest& d) = 0;
  virtual Result<std::optional<TagRecord>> GetTag(std::string_view repository,
                                                  std::string_view tag) = 0;
  // Tags in (repository, tag) order; `repository` empty: all repositories. The callback
  // returns false to stop.
  virtual Status ListTags(std::string_view repository,
                          const std::function<bool(const TagRecord&)>& fn) = 0;

  virtual Status Commit(const WriteBatch& batch) = 0;

  // Access ranks: for each path of one trace (first access first), rank_sum += its position
  // (0-based) and hits += 1, atomically.
  virtual Status AddTrace(std::string_view repository, const std::vector<std::string>& paths) = 0;
  // Statistics of the given paths (absent paths are left out of the result's keys).
  virtual Result<std::vector<std::pair<std::string, RankStat>>> GetRanks(
      std::string_view repository, const std::vector<std::string>& paths) = 0;

  // Durable event queue: Enqueue returns once the events are on stable storage (fsync), with
  // their sequence numbers. Events leave the queue by WriteBatch::DeleteEvent.
  virtual Result<std::vector<uint64_t>> Enqueue(const std::vector<std::string>& bodies) = 0;
  virtual Status ListEvents(const std::function<bool(const QueuedEvent&)>& fn) = 0;

  virtual Result<DbStats> Stats() = 0;
};

struct LevelDbOptions {
  bool create_if_missing = true;
  size_t block_cache_bytes = 64u << 20;
};

// Opens (or creates) the LevelDB database in directory `path`. FailedPrecondition if another
// process holds it ("locked by another process: is starlight-proxy running?"), NotSupported if
// its schema version is newer than kSchemaVersion, Corruption if its records are unreadable.
Result<std::unique_ptr<DirectoryDb>> OpenLevelDb(const std::string& path,
                                                 const LevelDbOptions& options = {});

}  // namespace starlight::dirdb
