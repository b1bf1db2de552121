#include "core/seekable/format.h"

#include <zlib.h>

#include <cstring>

#include "core/coding/coding.h"

namespace starlight::seekable {

std::string EncodeFooterMember(const Footer& f) {
  std::string p;
  p.append(kFooterMagic, 8);
  coding::PutFixed32(&p, kFooterVersion);
  coding::PutFixed32(&p, 0);  // flags
  coding::PutFixed64(&p, f.toc_offset);
  coding::PutFixed64(&p, f.toc_members_size);
  coding::PutFixed64(&p, f.toc_compressed_size);
  coding::PutFixed64(&p, f.toc_size);
  p.append(f.toc_digest.Raw());
  coding::PutFixed32(&p, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(p.data()),
                                                      static_cast<uInt>(p.size()))));
  return gzip::ExtraMember(kFooterSubfield[0], kFooterSubfield[1], p);
}

Result<Footer> DecodeFooterMember(std::string_view member) {
  size_t size = 0;
  auto payload = gzip::ParseExtraMember(member, kFooterSubfield[0], kFooterSubfield[1], &size);
  if (!payload.ok() || payload->size() < 8 || std::memcmp(payload->data(), kFooterMagic, 8) != 0) {
    return Status::NotFound("not a seekable layer (no Starlight footer at the end of the blob)");
  }
  std::string_view p = *payload;
  if (size != member.size() || p.size() != kFooterPayloadSize) {
    return Status::Corruption("footer has the wrong size");
  }
  const auto* u = reinterpret_cast<const uint8_t*>(p.data());
  uint32_t version = coding::DecodeFixed32(u + 8);
  if (version != kFooterVersion) {
    return Status::NotSupported("seekable layer version " + std::to_string(version) +
                                " (this build reads " + std::to_string(kFooterVersion) + ")");
  }
  uint32_t crc = static_cast<uint32_t>(crc32(0, u, 80));
  if (crc != coding::DecodeFixed32(u + 80)) return Status::Corruption("footer checksum mismatch");
  if (coding::DecodeFixed32(u + 12) != 0) return Status::NotSupported("unknown footer flags");
  Footer f;
  f.toc_offset = coding::DecodeFixed64(u + 16);
  f.toc_members_size = coding::DecodeFixed64(u + 24);
  f.toc_compressed_size = coding::DecodeFixed64(u + 32);
  f.toc_size = coding::DecodeFixed64(u + 40);
  f.toc_digest = digest::Digest::FromRaw(p.substr(48, 32));
  return f;
}

}  // namespace starlight::seekable
