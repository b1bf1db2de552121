#include "core/dirdb/encoding.h"

#include <zlib.h>

#include <limits>

#include "core/coding/coding.h"

namespace starlight::dirdb::encoding {
namespace {

uint32_t Crc(std::string_view key, std::string_view body) {
  uLong c = crc32(0, nullptr, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(key.data()), static_cast<uInt>(key.size()));
  c = crc32(c, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  return static_cast<uint32_t>(c);
}

std::string DigestKey(char prefix, const digest::Digest& d) {
  std::string k(1, prefix);
  k.append(d.Raw());
  return k;
}

std::string PairKey(char prefix, std::string_view a, std::string_view b) {
  std::string k(1, prefix);
  k.append(a);
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string Hex(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// Starts a value: the version byte.
std::string Begin() { return std::string(1, static_cast<char>(kValueVersion)); }

// Ends a value: the CRC over the key and everything before it.
std::string Finish(std::string_view key, std::string body) {
  coding::PutFixed32(&body, Crc(key, body));
  return body;
}

// A cursor over one value that produces Corruption errors naming the record.
class Reader {
 public:
  // Checks the CRC trailer and the version byte; positions after the version byte.
  Reader(std::string_view key, std::string_view value) : key_(key), dec_("") {
    if (value.size() < 5) {
      status_ = Fail("value too short (" + std::to_string(value.size()) + " bytes)");
      return;
    }
    std::string_view body = value.substr(0, value.size() - 4);
    uint32_t stored =
        coding::DecodeFixed32(reinterpret_cast<const uint8_t*>(value.data() + body.size()));
    if (stored != Crc(key, body)) {
      status_ = Fail("checksum mismatch");
      return;
    }
    if (static_cast<uint8_t>(body[0]) != kValueVersion) {
      status_ = Fail("unknown value version " + std::to_string(static_cast<uint8_t>(body[0])));
      return;
    }
    dec_ = coding::Decoder(body.substr(1));
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  Status Fail(const std::string& what) const {
    return Status::Corruption("directory DB record " + DescribeKey(key_) + ": " + what);
  }

  // Canonical (shortest) varint.
  bool Varint(const char* field, uint64_t* v) {
    if (!ok()) return false;
    size_t before = dec_.remaining();
    if (!dec_.GetVarint64(v)) return Error(field, "bad varint");
    size_t used = before - dec_.remaining();
    size_t want = 1;
    for (uint64_t x = *v; x >= 0x80; x >>= 7) ++want;
    if (used != want) return Error(field, "overlong varint");
    return true;
  }
  bool Svarint(const char* field, int64_t* v) {
    uint64_t u = 0;
    if (!Varint(field, &u)) return false;
    *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool Byte(const char* field, uint8_t* v) {
    if (!ok()) return false;
    if (!dec_.GetFixed8(v)) return Error(field, "truncated");
    return true;
  }
  bool String(const char* field, std::string* s) {
    uint64_t n = 0;
    if (!Varint(field, &n)) return false;
    std::string_view v;
    if (n > dec_.remaining() || !dec_.GetBytes(static_cast<size_t>(n), &v)) {
      return Error(field, "length " + std::to_string(n) + " exceeds the value");
    }
    s->assign(v);
    return true;
  }
  bool Digest(const char* field, digest::Digest* d) {
    if (!ok()) return false;
    std::string_view v;
    if (!dec_.GetBytes(32, &v)) return Error(field, "truncated");
    *d = digest::Digest::FromRaw(v);
    return true;
  }
  // Flags byte with only `allowed` bits.
  bool Flags(uint8_t allowed, uint8_t* v) {
    if (!Byte("flags", v)) return false;
    if (*v & ~allowed) return Error("flags", "unknown bits set");
    return true;
  }
  // A count of items of at least `min_item_bytes` each.
  bool Count(const char* field, size_t min_item_bytes, uint64_t* n) {
    if (!Varint(field, n)) return false;
    if (*n > dec_.remaining() / min_item_bytes) return Error(field, "count exceeds the value");
    return true;
  }
  Status Done() {
    if (ok() && !dec_.empty()) {
      status_ = Fail(std::to_string(dec_.remaining()) + " trailing bytes");
    }
    return status_;
  }

 private:
  bool Error(const char* field, const std::string& what) {
    if (ok()) status_ = Fail(std::string(field) + ": " + what);
    return false;
  }

  std::string_view key_;
  coding::Decoder dec_;
  Status status_;
};

void PutZigzag(std::string* dst, int64_t v) { coding::PutVarsint64(dst, v); }

Status KeyError(std::string_view key, const std::string& what) {
  return Status::Corruption("directory DB key " + DescribeKey(key) + ": " + what);
}

Result<digest::Digest> DigestFromKey(std::string_view key, char prefix) {
  if (key.size() != 33 || key[0] != prefix)
    return KeyError(key, "not a '" + std::string(1, prefix) + "' key");
  return digest::Digest::FromRaw(key.substr(1));
}

// Splits prefix a 0x00 b; both non-empty, b without 0x00.
Status SplitPairKey(std::string_view key, char prefix, std::string* a, std::string* b) {
  if (key.empty() || key[0] != prefix) return KeyError(key, "wrong family");
  std::string_view rest = key.substr(1);
  size_t nul = rest.find('\0');
  if (nul == std::string_view::npos || nul == 0 || nul + 1 == rest.size() ||
      rest.find('\0', nul + 1) != std::string_view::npos) {
    return KeyError(key, "malformed pair key");
  }
  a->assign(rest.substr(0, nul));
  b->assign(rest.substr(nul + 1));
  return Status::Ok();
}

}  // namespace

std::string SchemaKey() { return std::string(1, kMetaPrefix) + "schema"; }
std::string LastSeqKey() { return std::string(1, kMetaPrefix) + "last_seq"; }
std::string LayerKey(const digest::Digest& d) { return DigestKey(kLayerPrefix, d); }
std::string ImageKey(const digest::Digest& d) { return DigestKey(kImagePrefix, d); }
std::string IndexKey(const digest::Digest& d) { return DigestKey(kIndexPrefix, d); }
std::string TagKey(std::string_view repository, std::string_view tag) {
  return PairKey(kTagPrefix, repository, tag);
}
std::string RankKey(std::string_view repository, std::string_view path) {
  return PairKey(kRankPrefix, repository, path);
}
std::string EventKey(uint64_t seq) {
  std::string k(1, kEventPrefix);
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(seq >> shift));
  return k;
}
std::string TagPrefix(std::string_view repository) {
  std::string k(1, kTagPrefix);
  if (!repository.empty()) {
    k.append(repository);
    k.push_back('\0');
  }
  return k;
}
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

Status ValidateName(std::string_view what, std::string_view s) {
  if (s.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  if (s.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " contains a NUL byte");
  }
  return Status::Ok();
}

Status ValidateOp(const WriteBatch::Op& op) {
  if (const auto* t = std::get_if<TagRecord>(&op.op)) {
    SL_RETURN_IF_ERROR(ValidateName("repository", t->repository));
    return ValidateName("tag", t->tag);
  }
  if (const auto* t = std::get_if<WriteBatch::Op::DeleteTag>(&op.op)) {
    SL_RETURN_IF_ERROR(ValidateName("repository", t->repository));
    return ValidateName("tag", t->tag);
  }
  return Status::Ok();
}

std::string DescribeKey(std::string_view key) {
  if (key.empty()) return "(empty key)";
  std::string_view rest = key.substr(1);
  auto digest_name = [&](const char* family) {
    if (rest.size() == 32) return std::string(family) + " sha256:" + Hex(rest);
    return std::string(family) + " (bad key " + Hex(key) + ")";
  };
  auto pair_name = [&](const char* family, const char* sep) {
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) return std::string(family) + " (bad key " + Hex(key) + ")";
    return std::string(family) + " " + std::string(rest.substr(0, nul)) + sep +
           std::string(rest.substr(nul + 1));
  };
  switch (key[0]) {
    case kMetaPrefix:
      return "meta " + std::string(rest);
    case kLayerPrefix:
      return digest_name("layer");
    case kImagePrefix:
      return digest_name("image");
    case kIndexPrefix:
      return digest_name("index");
    case kTagPrefix:
      return pair_name("tag", ":");
    case kRankPrefix:
      return pair_name("rank", " ");
    case kEventPrefix:
      if (rest.size() == 8) {
        uint64_t seq = 0;
        for (unsigned char c : rest) seq = (seq << 8) | c;
        return "event " + std::to_string(seq);
      }
      return "event (bad key " + Hex(key) + ")";
    default:
      return "unknown key " + Hex(key);
  }
}

// --- schema and last_seq ---

std::string EncodeSchema(uint32_t version) {
  std::string v(kSchemaMagic);
  coding::PutFixed32(&v, version);
  coding::PutFixed32(&v, Crc(SchemaKey(), v));
  return v;
}

Result<uint32_t> DecodeSchema(std::string_view key, std::string_view value) {
  if (key != SchemaKey()) return KeyError(key, "not the schema key");
  if (value.size() != 12 || value.substr(0, 4) != kSchemaMagic) {
    return Status::Corruption("directory DB schema record: bad magic or size");
  }
  auto p = reinterpret_cast<const uint8_t*>(value.data());
  if (coding::DecodeFixed32(p + 8) != Crc(key, value.substr(0, 8))) {
    return Status::Corruption("directory DB schema record: checksum mismatch");
  }
  return coding::DecodeFixed32(p + 4);
}

std::string EncodeLastSeq(uint64_t seq) {
  std::string v = Begin();
  coding::PutVarint64(&v, seq);
  return Finish(LastSeqKey(), std::move(v));
}

Result<uint64_t> DecodeLastSeq(std::string_view key, std::string_view value) {
  if (key != LastSeqKey()) return KeyError(key, "not the last_seq key");
  Reader r(key, value);
  uint64_t seq = 0;
  r.Varint("last_seq", &seq);
  SL_RETURN_IF_ERROR(r.Done());
  return seq;
}

// --- layer ---

namespace {
constexpr uint8_t kLayerSeekable = 1, kLayerHasDiffId = 2;
constexpr uint8_t kImageSeekable = 1;
constexpr uint8_t kTagIsIndex = 1;
}  // namespace

KeyValue EncodeLayer(const LayerRecord& r) {
  KeyValue kv{LayerKey(r.digest), Begin()};
  std::string& v = kv.value;
  coding::PutLengthPrefixed(&v, r.media_type);
  coding::PutVarint64(&v, r.size);
  bool has_diff_id = r.diff_id != digest::Digest{};
  v.push_back(
      static_cast<char>((r.seekable ? kLayerSeekable : 0) | (has_diff_id ? kLayerHasDiffId : 0)));
  coding::PutLengthPrefixed(&v, r.reason);
  if (has_diff_id) v.append(r.diff_id.Raw());
  coding::PutLengthPrefixed(&v, r.toc);
  coding::PutVarint64(&v, r.fetched_bytes);
  PutZigzag(&v, r.ingested_at);
  kv.value = Finish(kv.key, std::move(v));
  return kv;
}

Result<LayerRecord> DecodeLayer(std::string_view key, std::string_view value) {
  LayerRecord rec;
  SL_ASSIGN_OR_RETURN(rec.digest, DigestFromKey(key, kLayerPrefix));
  Reader r(key, value);
  uint8_t flags = 0;
  r.String("media_type", &rec.media_type);
  r.Varint("size", &rec.size);
  r.Flags(kLayerSeekable | kLayerHasDiffId, &flags);
  rec.seekable = flags & kLayerSeekable;
  r.String("reason", &rec.reason);
  if (r.ok() && (flags & kLayerHasDiffId)) {
    r.Digest("diff_id", &rec.diff_id);
    if (r.ok() && rec.diff_id == digest::Digest{})
      return r.Fail("diff_id: zero but flagged present");
  }
  r.String("toc", &rec.toc);
  r.Varint("fetched_bytes", &rec.fetched_bytes);
  r.Svarint("ingested_at", &rec.ingested_at);
  SL_RETURN_IF_ERROR(r.Done());
  return rec;
}

// --- image ---

KeyValue EncodeImage(const ImageRecord& r) {
  KeyValue kv{ImageKey(r.digest), Begin()};
  std::string& v = kv.value;
  coding::PutLengthPrefixed(&v, r.media_type);
  coding::PutLengthPrefixed(&v, r.manifest);
  v.append(r.config_digest.Raw());
  coding::PutLengthPrefixed(&v, r.config);
  coding::PutLengthPrefixed(&v, r.platform);
  coding::PutVarint64(&v, r.layers.size());
  for (const auto& l : r.layers) v.append(l.Raw());
  v.push_back(static_cast<char>(r.seekable ? kImageSeekable : 0));
  coding::PutLengthPrefixed(&v, r.merged);
  coding::PutLengthPrefixed(&v, r.reason);
  PutZigzag(&v, r.ingested_at);
  kv.value = Finish(kv.key, std::move(v));
  return kv;
}

Result<ImageRecord> DecodeImage(std::string_view key, std::string_view value) {
  ImageRecord rec;
  SL_ASSIGN_OR_RETURN(rec.digest, DigestFromKey(key, kImagePrefix));
  Reader r(key, value);
  r.String("media_type", &rec.media_type);
  r.String("manifest", &rec.manifest);
  r.Digest("config_digest", &rec.config_digest);
  r.String("config", &rec.config);
  r.String("platform", &rec.platform);
  uint64_t n = 0;
  if (r.Count("layer_count", 32, &n)) {
    rec.layers.resize(static_cast<size_t>(n));
    for (auto& l : rec.layers) r.Digest("layer", &l);
  }
  uint8_t flags = 0;
  r.Flags(kImageSeekable, &flags);
  rec.seekable = flags & kImageSeekable;
  r.String("merged", &rec.merged);
  r.String("reason", &rec.reason);
  r.Svarint("ingested_at", &rec.ingested_at);
  SL_RETURN_IF_ERROR(r.Done());
  return rec;
}

// --- index ---

KeyValue EncodeIndex(const IndexRecord& r) {
  KeyValue kv{IndexKey(r.digest), Begin()};
  std::string& v = kv.value;
  coding::PutLengthPrefixed(&v, r.media_type);
  coding::PutLengthPrefixed(&v, r.manifest);
  coding::PutVarint64(&v, r.manifests.size());
  for (const auto& m : r.manifests) {
    v.append(m.digest.Raw());
    coding::PutLengthPrefixed(&v, m.platform);
  }
  PutZigzag(&v, r.ingested_at);
  kv.value = Finish(kv.key, std::move(v));
  return kv;
}

Result<IndexRecord> DecodeIndex(std::string_view key, std::string_view value) {
  IndexRecord rec;
  SL_ASSIGN_OR_RETURN(rec.digest, DigestFromKey(key, kIndexPrefix));
  Reader r(key, value);
  r.String("media_type", &rec.media_type);
  r.String("manifest", &rec.manifest);
  uint64_t n = 0;
  if (r.Count("manifest_count", 33, &n)) {
    rec.manifests.resize(static_cast<size_t>(n));
    for (auto& m : rec.manifests) {
      r.Digest("manifest digest", &m.digest);
      r.String("platform", &m.platform);
    }
  }
  r.Svarint("ingested_at", &rec.ingested_at);
  SL_RETURN_IF_ERROR(r.Done());
  return rec;
}

// --- tag ---

KeyValue EncodeTag(const TagRecord& r) {
  KeyValue kv{TagKey(r.repository, r.tag), Begin()};
  std::string& v = kv.value;
  v.append(r.digest.Raw());
  v.push_back(static_cast<char>(r.is_index ? kTagIsIndex : 0));
  PutZigzag(&v, r.updated_at);
  kv.value = Finish(kv.key, std::move(v));
  return kv;
}

Result<TagRecord> DecodeTag(std::string_view key, std::string_view value) {
  TagRecord rec;
  SL_RETURN_IF_ERROR(SplitPairKey(key, kTagPrefix, &rec.repository, &rec.tag));
  Reader r(key, value);
  r.Digest("digest", &rec.digest);
  uint8_t flags = 0;
  r.Flags(kTagIsIndex, &flags);
  rec.is_index = flags & kTagIsIndex;
  r.Svarint("updated_at", &rec.updated_at);
  SL_RETURN_IF_ERROR(r.Done());
  return rec;
}

// --- rank ---

KeyValue EncodeRank(std::string_view repository, std::string_view path, const RankStat& s) {
  KeyValue kv{RankKey(repository, path), Begin()};
  coding::PutVarint64(&kv.value, s.rank_sum);
  coding::PutVarint64(&kv.value, s.hits);
  kv.value = Finish(kv.key, std::move(kv.value));
  return kv;
}

Result<RankStat> DecodeRank(std::string_view key, std::string_view value, std::string* repository,
                            std::string* path) {
  std::string repo, p;
  SL_RETURN_IF_ERROR(SplitPairKey(key, kRankPrefix, &repo, &p));
  RankStat s;
  Reader r(key, value);
  r.Varint("rank_sum", &s.rank_sum);
  r.Varint("hits", &s.hits);
  SL_RETURN_IF_ERROR(r.Done());
  if (repository) *repository = std::move(repo);
  if (path) *path = std::move(p);
  return s;
}

// --- event ---

KeyValue EncodeEvent(const QueuedEvent& e) {
  KeyValue kv{EventKey(e.seq), Begin()};
  coding::PutLengthPrefixed(&kv.value, e.body);
  kv.value = Finish(kv.key, std::move(kv.value));
  return kv;
}

Result<QueuedEvent> DecodeEvent(std::string_view key, std::string_view value) {
  if (key.size() != 9 || key[0] != kEventPrefix) return KeyError(key, "not an event key");
  QueuedEvent e;
  for (unsigned char c : key.substr(1)) e.seq = (e.seq << 8) | c;
  Reader r(key, value);
  r.String("body", &e.body);
  SL_RETURN_IF_ERROR(r.Done());
  return e;
}

}  // namespace starlight::dirdb::encoding
