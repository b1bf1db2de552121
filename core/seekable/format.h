// Constants and the footer of the seekable layer format (format-spec/seekable-layer.md).
//
// Blob = data members (tar metadata and per-file content) ++ ToC members (empty gzip members
// whose FEXTRA subfield "ST" carries the raw-deflated ToC) ++ one footer member (empty gzip
// member, FEXTRA subfield "SF", fixed size kFooterMemberSize) that locates the ToC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/digest/digest.h"
#include "core/gzip/gzip.h"
#include "core/status/status.h"

namespace starlight::seekable {

// Largest uncompressed size of one content member; larger files are split at multiples of it.
inline constexpr uint64_t kChunkSize = 4ull << 20;
// Largest uncompressed size of one metadata member (long runs of headers, trailing bytes).
inline constexpr uint64_t kMaxMetadataMember = 4ull << 20;
inline constexpr char kTocSubfield[2] = {'S', 'T'};
inline constexpr char kFooterSubfield[2] = {'S', 'F'};
inline constexpr char kFooterMagic[8] = {'S', 'T', 'R', 'L', 'I', 'G', 'H', 'T'};
inline constexpr uint32_t kFooterVersion = 1;
inline constexpr size_t kFooterPayloadSize = 84;
inline constexpr size_t kFooterMemberSize = gzip::ExtraMemberSize(kFooterPayloadSize);
// A reader refuses embedded ToCs that inflate beyond this (bounded memory on hostile blobs).
inline constexpr uint64_t kMaxTocSize = 1ull << 30;
// Compression level of the embedded ToC (raw deflate, libdeflate).
inline constexpr int kTocLevel = 12;

struct Footer {
  uint64_t toc_offset = 0;           // first ToC member in the blob
  uint64_t toc_members_size = 0;     // bytes of all ToC members (footer excluded)
  uint64_t toc_compressed_size = 0;  // raw-deflate bytes carried by the ToC subfields
  uint64_t toc_size = 0;             // encoded ToC bytes after inflation
  digest::Digest toc_digest;         // sha256 of the encoded ToC
  bool operator==(const Footer&) const = default;
};

// The complete footer member (kFooterMemberSize bytes).
std::string EncodeFooterMember(const Footer& f);
// NotFound when `member` is not a Starlight footer at all (the blob is not seekable);
// Corruption when it is one but damaged; NotSupported for a newer version.
Result<Footer> DecodeFooterMember(std::string_view member);

}  // namespace starlight::seekable
