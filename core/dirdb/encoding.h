// Internal to core/dirdb: the key layout and value encodings of the directory database
// (format-spec/directory-db.md, normative), and WriteBatch::Op. Used by every DirectoryDb
// implementation and by the spec's vector test; not part of the public API.
//
// Keys are a one-byte family prefix followed by the record's identity; values are
// `byte version | fields | fixed32 crc32(key || preceding value bytes)`. Decoders never trust
// their input: every failure is a Corruption Status naming the record. Stateless, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/digest/digest.h"
#include "core/dirdb/dirdb.h"
#include "core/status/status.h"

namespace starlight::dirdb {

// One write of a WriteBatch, in the order it was added.
struct WriteBatch::Op {
  struct DeleteTag {
    std::string repository, tag;
    bool operator==(const DeleteTag&) const = default;
  };
  struct DeleteEvent {
    uint64_t seq = 0;
    bool operator==(const DeleteEvent&) const = default;
  };
  std::variant<LayerRecord, ImageRecord, IndexRecord, TagRecord, DeleteTag, DeleteEvent> op;
};

namespace encoding {

// Family prefixes (first key byte).
inline constexpr char kMetaPrefix = 'M';
inline constexpr char kLayerPrefix = 'L';
inline constexpr char kImagePrefix = 'I';
inline constexpr char kIndexPrefix = 'X';
inline constexpr char kTagPrefix = 'T';
inline constexpr char kRankPrefix = 'R';
inline constexpr char kEventPrefix = 'Q';

// Value format version of every record family (the first value byte).
inline constexpr uint8_t kValueVersion = 1;
// Magic of the schema value, "SLDB" in file order.
inline constexpr std::string_view kSchemaMagic = "SLDB";

struct KeyValue {
  std::string key, value;
  bool operator==(const KeyValue&) const = default;
};

// --- keys ---
std::string SchemaKey();   // "Mschema"
std::string LastSeqKey();  // "Mlast_seq"
std::string LayerKey(const digest::Digest& d);
std::string ImageKey(const digest::Digest& d);
std::string IndexKey(const digest::Digest& d);
// REQUIRES: ValidateName succeeded for repository and tag / path.
std::string TagKey(std::string_view repository, std::string_view tag);
std::string RankKey(std::string_view repository, std::string_view path);
std::string EventKey(uint64_t seq);
// The key prefix of all tags (repository empty) or of one repository's tags ("T" repo 0x00).
std::string TagPrefix(std::string_view repository);
// First key after every key that starts with `prefix` ("" when there is none: prefix is all 0xff).
std::string PrefixEnd(std::string_view prefix);

// InvalidArgument unless `s` is non-empty and holds no 0x00 byte; `what` names it in the message.
Status ValidateName(std::string_view what, std::string_view s);
// InvalidArgument when a Put/Delete of the batch op could not be stored (bad names).
Status ValidateOp(const WriteBatch::Op& op);

// Human-readable name of a key for error messages ("layer sha256:…", "tag repo:tag", …).
std::string DescribeKey(std::string_view key);

// --- values (each Decode checks version, CRC, field bounds, canonical varints, no trailing
// bytes, and that the key has the right family and shape) ---
std::string EncodeSchema(uint32_t version);
Result<uint32_t> DecodeSchema(std::string_view key, std::string_view value);

std::string EncodeLastSeq(uint64_t seq);
Result<uint64_t> DecodeLastSeq(std::string_view key, std::string_view value);

KeyValue EncodeLayer(const LayerRecord& r);
Result<LayerRecord> DecodeLayer(std::string_view key, std::string_view value);

KeyValue EncodeImage(const ImageRecord& r);
Result<ImageRecord> DecodeImage(std::string_view key, std::string_view value);

KeyValue EncodeIndex(const IndexRecord& r);
Result<IndexRecord> DecodeIndex(std::string_view key, std::string_view value);

KeyValue EncodeTag(const TagRecord& r);
Result<TagRecord> DecodeTag(std::string_view key, std::string_view value);

// A rank stat's key carries (repository, path); DecodeRank returns them through the out params.
KeyValue EncodeRank(std::string_view repository, std::string_view path, const RankStat& s);
Result<RankStat> DecodeRank(std::string_view key, std::string_view value,
                            std::string* repository = nullptr, std::string* path = nullptr);

KeyValue EncodeEvent(const QueuedEvent& e);
Result<QueuedEvent> DecodeEvent(std::string_view key, std::string_view value);

}  // namespace encoding
}  // namespace starlight::dirdb
