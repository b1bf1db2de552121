// Reading seekable blobs: the embedded ToC (footer, then ToC members: two ranged reads) and a
// full scan that re-derives the ToC from the blob's gzip members, so an embedded ToC never has
// to be trusted blindly.
//
// Error codes: NotFound = not a seekable layer (no footer); Corruption = a damaged blob or a
// ToC that contradicts it; NotSupported = a newer format version. Stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/io/reader.h"
#include "core/seekable/format.h"
#include "core/status/status.h"
#include "core/toc/toc.h"

namespace starlight::seekable {

struct EmbeddedToc {
  Footer footer;
  std::string encoded;  // the encoded ToC (EncodeToc bytes)
  toc::Toc toc;
};

// Reads the footer (the last kFooterMemberSize bytes) of a blob of `blob.Size()` bytes.
Result<Footer> ReadFooter(const io::RandomAccessReader& blob);
// Decodes the ToC from the bytes of the ToC members ([footer.toc_offset, +toc_members_size)),
// e.g. fetched with one HTTP range request, and checks it against the footer.
Result<EmbeddedToc> DecodeTocMembers(std::string_view members, const Footer& footer);
// Footer + ToC members + decode: what the registry hook does with two range requests.
Result<EmbeddedToc> ReadEmbeddedToc(const io::RandomAccessReader& blob);

struct ScanResult {
  toc::Toc toc;           // derived from the members alone
  uint64_t data_end = 0;  // end of the last member that decompresses to bytes
  uint64_t members = 0;
  uint64_t blob_size = 0;
  digest::Digest blob_digest;
};

// Decompresses the whole blob, checks every member (CRC, ISIZE) and that each regular file's
// content begins and ends on member boundaries in members of at most kChunkSize bytes, and
// derives the ToC. FailedPrecondition names the first file that is not member-aligned.
Result<ScanResult> ScanLayer(io::ByteSource* blob);

// Scans the blob and compares with its embedded ToC: OK only if both agree exactly.
struct VerifyResult {
  EmbeddedToc embedded;
  ScanResult scan;
};
Result<VerifyResult> VerifyLayer(const io::RandomAccessReader& blob);

}  // namespace starlight::seekable
