// DirectoryDb on LevelDB: one process owns the database directory (LevelDB's LOCK file).
// Key layout and encodings: core/dirdb/encoding.h, format-spec/directory-db.md.
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/iterator.h>
#include <leveldb/write_batch.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include "core/dirdb/dirdb.h"
#include "core/dirdb/encoding.h"

namespace starlight::dirdb {
namespace {

namespace fs = std::filesystem;
using encoding::DescribeKey;

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Maps a LevelDB status to ours, keeping LevelDB's message after `context`.
Status FromLevelDb(const leveldb::Status& s, std::string_view context) {
  std::string m = std::string(context) + ": " + s.ToString();
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(std::move(m));
  if (s.IsCorruption()) return Status::Corruption(std::move(m));
  if (s.IsNotSupportedError()) return Status::NotSupported(std::move(m));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(m));
  return Status::IoError(std::move(m));
}

// LevelDB 1.23 reports a held LOCK file as IOError "lock <dir>/LOCK: <strerror(EAGAIN or
// EACCES)>" when another process holds the fcntl lock, and "lock <dir>/LOCK: already held by
// process" when this process has the database open already.
bool IsLockHeld(const leveldb::Status& s) {
  if (!s.IsIOError()) return false;
  std::string m = s.ToString();
  if (!Contains(m, "lock ")) return false;
  return Contains(m, "already held by process") || Contains(m, std::strerror(EAGAIN)) ||
         Contains(m, std::strerror(EACCES));
}

class LevelDirectoryDb final : public DirectoryDb {
 public:
  explicit LevelDirectoryDb(std::string path) : path_(std::move(path)) {}

  ~LevelDirectoryDb() override {
    db_.reset();  // before the cache and the filter policy it uses
  }

  Status Open(const LevelDbOptions& options) {
    cache_.reset(leveldb::NewLRUCache(options.block_cache_bytes));
    filter_.reset(leveldb::NewBloomFilterPolicy(10));
    leveldb::Options o;
    o.create_if_missing = options.create_if_missing;
    o.block_cache = cache_.get();
    o.filter_policy = filter_.get();
    leveldb::DB* db = nullptr;
    leveldb::Status s = leveldb::DB::Open(o, path_, &db);
    if (IsLockHeld(s)) {
      return Status::FailedPrecondition(
          "directory DB " + path_ + " is locked by another process: is starlight-proxy running? (" +
          s.ToString() + ")");
    }
    if (!s.ok()) return FromLevelDb(s, "opening directory DB " + path_);
    db_.reset(db);
    SL_RETURN_IF_ERROR(CheckSchema());
    return RecoverLastSeq();
  }

  Result<std::optional<LayerRecord>> GetLayer(const digest::Digest& d) override {
    return GetRecord<LayerRecord>(encoding::LayerKey(d), encoding::DecodeLayer);
  }
  Result<std::optional<ImageRecord>> GetImage(const digest::Digest& d) override {
    return GetRecord<ImageRecord>(encoding::ImageKey(d), encoding::DecodeImage);
  }
  Result<std::optional<IndexRecord>> GetIndex(const digest::Digest& d) override {
    return GetRecord<IndexRecord>(encoding::IndexKey(d), encoding::DecodeIndex);
  }
  Result<std::optional<TagRecord>> GetTag(std::string_view repository,
                                          std::string_view tag) override {
    SL_RETURN_IF_ERROR(encoding::ValidateName("repository", repository));
    SL_RETURN_IF_ERROR(encoding::ValidateName("tag", tag));
    return GetRecord<TagRecord>(encoding::TagKey(repository, tag), encoding::DecodeTag);
  }

  Status ListTags(std::string_view repository,
                  const std::function<bool(const TagRecord&)>& fn) override {
    if (!repository.empty()) SL_RETURN_IF_ERROR(encoding::ValidateName("repository", repository));
    Status cb;
    SL_RETURN_IF_ERROR(
        Scan(encoding::TagPrefix(repository), [&](std::string_view k, std::string_view v) {
          auto t = encoding::DecodeTag(k, v);
          if (!t.ok()) {
            cb = t.status();
            return false;
          }
          return fn(*t);
        }));
    return cb;
  }

  Status Commit(const WriteBatch& batch) override {
    leveldb::WriteBatch wb;
    for (const auto& op : batch.ops()) {
      SL_RETURN_IF_ERROR(encoding::ValidateOp(op).WithContext("directory DB commit"));
      std::visit(
          [&](const auto& o) {
            using T = std::decay_t<decltype(o)>;
            encoding::KeyValue kv;
            if constexpr (std::is_same_v<T, LayerRecord>) {
              kv = encoding::EncodeLayer(o);
            } else if constexpr (std::is_same_v<T, ImageRecord>) {
              kv = encoding::EncodeImage(o);
            } else if constexpr (std::is_same_v<T, IndexRecord>) {
              kv = encoding::EncodeIndex(o);
            } else if constexpr (std::is_same_v<T, TagRecord>) {
              kv = encoding::EncodeTag(o);
            } else if constexpr (std::is_same_v<T, WriteBatch::Op::DeleteTag>) {
              wb.Delete(encoding::TagKey(o.repository, o.tag));
              return;
            } else {
              static_assert(std::is_same_v<T, WriteBatch::Op::DeleteEvent>);
              wb.Delete(encoding::EventKey(o.seq));
              return;
            }
            wb.Put(kv.key, kv.value);
          },
          op.op);
    }
    if (batch.empty()) return Status::Ok();
    return Write(&wb, "directory DB commit");
  }

  Status AddTrace(std::string_view repository, const std::vector<std::string>& paths) override {
    SL_RETURN_IF_ERROR(encoding::ValidateName("repository", repository));
    for (const auto& p : paths) SL_RETURN_IF_ERROR(encoding::ValidateName("path", p));
    if (paths.empty()) return Status::Ok();
    // Read-modify-write: this mutex makes it atomic against other AddTrace calls of this
    // process (the only writers of rank keys). A shared database does it in a transaction.
    std::lock_guard<std::mutex> lock(rank_mu_);
    std::map<std::string, std::pair<std::string_view, RankStat>> updated;  // by key
    for (size_t i = 0; i < paths.size(); ++i) {
      std::string key = encoding::RankKey(repository, paths[i]);
      auto it = updated.find(key);
      if (it == updated.end()) {
        SL_ASSIGN_OR_RETURN(auto cur, GetRecord<RankStat>(key, DecodeRankNoNames));
        it = updated
                 .emplace(key, std::make_pair(std::string_view(paths[i]), cur.value_or(RankStat{})))
                 .first;
      }
      it->second.second.rank_sum += i;
      it->second.second.hits += 1;
    }
    leveldb::WriteBatch wb;
    for (const auto& [key, v] : updated) {
      auto kv = encoding::EncodeRank(repository, v.first, v.second);
      wb.Put(kv.key, kv.value);
    }
    return Write(&wb, "directory DB rank update");
  }

  Result<std::vector<std::pair<std::string, RankStat>>> GetRanks(
      std::string_view repository, const std::vector<std::string>& paths) override {
    SL_RETURN_IF_ERROR(encoding::ValidateName("repository", repository));
    std::vector<std::pair<std::string, RankStat>> out;
    for (const auto& p : paths) {
      SL_RETURN_IF_ERROR(encoding::ValidateName("path", p));
      SL_ASSIGN_OR_RETURN(auto s,
                          GetRecord<RankStat>(encoding::RankKey(repository, p), DecodeRankNoNames));
      if (s) out.emplace_back(p, *s);
    }
    return out;
  }

  Result<std::vector<uint64_t>> Enqueue(const std::vector<std::string>& bodies) override {
    std::vector<uint64_t> seqs;
    if (bodies.empty()) return seqs;
    std::lock_guard<std::mutex> lock(seq_mu_);
    leveldb::WriteBatch wb;
    uint64_t seq = last_seq_;
    for (const auto& b : bodies) {
      auto kv = encoding::EncodeEvent(QueuedEvent{++seq, b});
      wb.Put(kv.key, kv.value);
      seqs.push_back(seq);
    }
    wb.Put(encoding::LastSeqKey(), encoding::EncodeLastSeq(seq));
    SL_RETURN_IF_ERROR(Write(&wb, "directory DB enqueue"));
    last_seq_ = seq;
    return seqs;
  }

  Status ListEvents(const std::function<bool(const QueuedEvent&)>& fn) override {
    Status cb;
    SL_RETURN_IF_ERROR(
        Scan(std::string(1, encoding::kEventPrefix), [&](std::string_view k, std::string_view v) {
          auto e = encoding::DecodeEvent(k, v);
          if (!e.ok()) {
            cb = e.status();
            return false;
          }
          return fn(*e);
        }));
    return cb;
  }

  Result<DbStats> Stats() override {
    DbStats st;
    Status bad;
    auto scan = [&](char prefix,
                    const std::function<Status(std::string_view, std::string_view)>& f) {
      return Scan(std::string(1, prefix), [&](std::string_view k, std::string_view v) {
        bad = f(k, v);
        return bad.ok();
      });
    };
    SL_RETURN_IF_ERROR(scan(encoding::kLayerPrefix, [&](std::string_view k, std::string_view v) {
      SL_ASSIGN_OR_RETURN(auto l, encoding::DecodeLayer(k, v));
      ++st.layers;
      st.seekable_layers += l.seekable;
      st.toc_bytes += l.toc.size();
      return Status::Ok();
    }));
    SL_RETURN_IF_ERROR(bad);
    SL_RETURN_IF_ERROR(scan(encoding::kImagePrefix, [&](std::string_view k, std::string_view v) {
      SL_ASSIGN_OR_RETURN(auto i, encoding::DecodeImage(k, v));
      ++st.images;
      st.merged_bytes += i.merged.size();
      return Status::Ok();
    }));
    SL_RETURN_IF_ERROR(bad);
    auto count = [&](char prefix, uint64_t* n) {
      return scan(prefix, [n](std::string_view, std::string_view) {
        ++*n;
        return Status::Ok();
      });
    };
    SL_RETURN_IF_ERROR(count(encoding::kIndexPrefix, &st.indexes));
    SL_RETURN_IF_ERROR(count(encoding::kTagPrefix, &st.tags));
    SL_RETURN_IF_ERROR(count(encoding::kRankPrefix, &st.rank_paths));
    SL_RETURN_IF_ERROR(count(encoding::kEventPrefix, &st.queued_events));
    std::error_code ec;
    for (fs::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code size_ec;
      uint64_t n = it->is_regular_file(size_ec) ? it->file_size(size_ec) : 0;
      if (!size_ec) st.disk_bytes += n;  // files may vanish under compaction
    }
    if (ec) return Status::IoError("listing directory DB " + path_ + ": " + ec.message());
    return st;
  }

 private:
  static Result<RankStat> DecodeRankNoNames(std::string_view k, std::string_view v) {
    return encoding::DecodeRank(k, v);
  }

  static leveldb::ReadOptions ReadOpts() {
    leveldb::ReadOptions r;
    r.verify_checksums = true;
    return r;
  }

  Status Write(leveldb::WriteBatch* wb, std::string_view what) {
    leveldb::WriteOptions w;
    w.sync = true;
    return FromLevelDb(db_->Write(w, wb), what);
  }

  Result<std::optional<std::string>> GetRaw(const std::string& key) {
    std::string v;
    leveldb::Status s = db_->Get(ReadOpts(), key, &v);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromLevelDb(s, "reading directory DB record " + DescribeKey(key));
    return std::optional<std::string>(std::move(v));
  }

  template <typename T, typename Decode>
  Result<std::optional<T>> GetRecord(const std::string& key, Decode decode) {
    SL_ASSIGN_OR_RETURN(auto v, GetRaw(key));
    if (!v) return std::optional<T>();
    SL_ASSIGN_OR_RETURN(T rec, decode(key, *v));
    return std::optional<T>(std::move(rec));
  }

  // Calls fn(key, value) for the keys starting with `prefix`, in key order, until it returns false.
  Status Scan(const std::string& prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ReadOpts()));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view k(it->key().data(), it->key().size());
      if (k.substr(0, prefix.size()) != prefix) break;
      if (!fn(k, std::string_view(it->value().data(), it->value().size()))) break;
    }
    return FromLevelDb(it->status(), "scanning directory DB " + path_);
  }

  Status CheckSchema() {
    const std::string key = encoding::SchemaKey();
    SL_ASSIGN_OR_RETURN(auto v, GetRaw(key));
    if (!v) {
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ReadOpts()));
      it->SeekToFirst();
      SL_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading directory DB " + path_));
      if (it->Valid()) {
        return Status::Corruption("directory DB " + path_ +
                                  ": not a starlight directory DB (records but no schema key)");
      }
      leveldb::WriteBatch wb;
      wb.Put(key, encoding::EncodeSchema(kSchemaVersion));
      return Write(&wb, "initialising directory DB " + path_);
    }
    auto version = encoding::DecodeSchema(key, *v);
    if (!version.ok()) return version.status().WithContext("directory DB " + path_);
    if (*version > kSchemaVersion) {
      return Status::NotSupported("directory DB " + path_ + " has schema version " +
                                  std::to_string(*version) + ", newer than this build's " +
                                  std::to_string(kSchemaVersion));
    }
    if (*version == 0) {
      return Status::Corruption("directory DB " + path_ + ": schema version 0");
    }
    if (*version < kSchemaVersion) {
      // No older schema has been released yet; a migration would go here.
      return Status::NotSupported("directory DB " + path_ + " has old schema version " +
                                  std::to_string(*version) + " and no migration to " +
                                  std::to_string(kSchemaVersion) + " exists");
    }
    return Status::Ok();
  }

  // last_seq_ = max(the last_seq meta record, the largest queued seq).
  Status RecoverLastSeq() {
    std::lock_guard<std::mutex> lock(seq_mu_);
    const std::string key = encoding::LastSeqKey();
    SL_ASSIGN_OR_RETURN(auto v, GetRaw(key));
    uint64_t last = 0;
    if (v) {
      SL_ASSIGN_OR_RETURN(last, encoding::DecodeLastSeq(key, *v));
    }
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ReadOpts()));
    const std::string prefix(1, encoding::kEventPrefix);
    it->Seek(encoding::PrefixEnd(prefix));
    if (it->Valid()) {
      it->Prev();
    } else {
      it->SeekToLast();
    }
    if (it->Valid() && it->key().starts_with(prefix)) {
      // Only the key is needed: a damaged body of the newest event must not stop the DB from
      // opening (ListEvents reports it).
      std::string_view key(it->key().data(), it->key().size());
      if (key.size() != 9) {
        return Status::Corruption("directory DB " + path_ + ": malformed " + DescribeKey(key));
      }
      uint64_t seq = 0;
      for (unsigned char c : key.substr(1)) seq = (seq << 8) | c;
      last = std::max(last, seq);
    }
    SL_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading directory DB " + path_));
    last_seq_ = last;
    return Status::Ok();
  }

  const std::string path_;
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;  // thread-safe for Get/Write/NewIterator

  // Lock order: rank_mu_ and seq_mu_ are never held together.
  std::mutex rank_mu_;     // serialises AddTrace (read-modify-write of rank keys)
  std::mutex seq_mu_;      // guards last_seq_; serialises Enqueue
  uint64_t last_seq_ = 0;  // GUARDED_BY(seq_mu_)
};

}  // namespace

Result<std::unique_ptr<DirectoryDb>> OpenLevelDb(const std::string& path,
                                                 const LevelDbOptions& options) {
  if (!options.create_if_missing) {
    // LevelDB would create the directory (and a LOCK file) before noticing it is missing.
    std::error_code ec;
    bool exists = fs::exists(fs::path(path) / "CURRENT", ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status::IoError("checking directory DB " + path + ": " + ec.message());
    }
    if (!exists) return Status::NotFound("directory DB " + path + " does not exist");
  }
  auto db = std::make_unique<LevelDirectoryDb>(path);
  SL_RETURN_IF_ERROR(db->Open(options));
  return std::unique_ptr<DirectoryDb>(std::move(db));
}

}  // namespace starlight::dirdb
