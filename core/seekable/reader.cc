#include "core/seekable/reader.h"

#include <libdeflate.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/gzip/gzip.h"
#include "core/tar/tar.h"

namespace starlight::seekable {

Result<Footer> ReadFooter(const io::RandomAccessReader& blob) {
  if (blob.Size() < kFooterMemberSize) {
    return Status::NotFound("not a seekable layer (blob too small for a Starlight footer)");
  }
  SL_ASSIGN_OR_RETURN(std::string m, io::ReadAllAt(blob, blob.Size() - kFooterMemberSize, kFooterMemberSize));
  SL_ASSIGN_OR_RETURN(Footer f, DecodeFooterMember(m));
  uint64_t footer_start = blob.Size() - kFooterMemberSize;
  if (f.toc_offset > footer_start || f.toc_members_size != footer_start - f.toc_offset) {
    return Status::Corruption("footer locates the ToC outside the blob");
  }
  return f;
}

Result<EmbeddedToc> DecodeTocMembers(std::string_view members, const Footer& footer) {
  if (members.size() != footer.toc_members_size) {
    return Status::Corruption("ToC members have " + std::to_string(members.size()) +
                              " bytes, footer says " + std::to_string(footer.toc_members_size));
  }
  if (footer.toc_size > kMaxTocSize) {
    return Status::Corruption("ToC of " + std::to_string(footer.toc_size) + " bytes exceeds the limit");
  }
  std::string deflated;
  while (!members.empty()) {
    size_t size = 0;
    auto payload = gzip::ParseExtraMember(members, kTocSubfield[0], kTocSubfield[1], &size);
    if (!payload.ok()) return payload.status().WithContext("ToC member");
    deflated.append(*payload);
    members.remove_prefix(size);
  }
  if (deflated.size() != footer.toc_compressed_size) {
    return Status::Corruption("ToC members carry " + std::to_string(deflated.size()) +
                              " bytes, footer says " + std::to_string(footer.toc_compressed_size));
  }
  EmbeddedToc out;
  out.footer = footer;
  out.encoded.resize(footer.toc_size);
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  if (d == nullptr) return Status::Internal("libdeflate_alloc_decompressor failed");
  size_t actual = 0;
  libdeflate_result r = libdeflate_deflate_decompress(d, deflated.data(), deflated.size(),
                                                      out.encoded.data(), out.encoded.size(), &actual);
  libdeflate_free_decompressor(d);
  if (r != LIBDEFLATE_SUCCESS || actual != footer.toc_size) {
    return Status::Corruption("embedded ToC does not inflate to the size the footer states");
  }
  if (digest::Sha256Of(out.encoded) != footer.toc_digest) {
    return Status::Corruption("embedded ToC digest mismatch");
  }
  SL_ASSIGN_OR_RETURN(out.toc, toc::DecodeToc(out.encoded));
  for (const toc::Entry& e : out.toc.entries) {
    for (const toc::Chunk& c : e.chunks) {
      if (c.compressed_offset > footer.toc_offset ||
          c.compressed_size > footer.toc_offset - c.compressed_offset) {
        return Status::Corruption("ToC places content of '" + e.meta.path + "' outside the data");
      }
    }
  }
  return out;
}

Result<EmbeddedToc> ReadEmbeddedToc(const io::RandomAccessReader& blob) {
  SL_ASSIGN_OR_RETURN(Footer f, ReadFooter(blob));
  SL_ASSIGN_OR_RETURN(std::string members, io::ReadAllAt(blob, f.toc_offset, f.toc_members_size));
  return DecodeTocMembers(members, f);
}

namespace {

struct ScannedMember {
  gzip::MemberInfo info;
  digest::Digest digest;  // of its decompressed bytes
};

// Sits on the gzip decoder: hashes the whole stream (diffID) and each member's bytes.
class MemberHashingSource : public io::ByteSource {
 public:
  explicit MemberHashingSource(io::ByteSource* compressed)
      : decoder_(compressed, [this](const gzip::MemberInfo& m) { ended_.push_back(m); }) {}

  Result<size_t> Read(char* buf, size_t n) override {
    SL_ASSIGN_OR_RETURN(size_t got, decoder_.Read(buf, n));
    stream_hash_.Update(buf, got);
    uint64_t start = pos_;
    pos_ += got;
    // Bytes up to each ended member's end belong to it; the decoder reports a member's end in
    // the same Read that returns its last bytes.
    for (const gzip::MemberInfo& m : ended_) {
      uint64_t end = m.uncompressed_offset + m.uncompressed_size;
      member_hash_.Update(buf + (hashed_ - start), end - hashed_);
      hashed_ = end;
      members_.push_back({m, member_hash_.Finish()});
    }
    ended_.clear();
    member_hash_.Update(buf + (hashed_ - start), pos_ - hashed_);
    hashed_ = pos_;
    return got;
  }

  std::vector<ScannedMember>& members() { return members_; }
  uint64_t position() const { return pos_; }
  uint64_t compressed_offset() const { return decoder_.compressed_offset(); }
  digest::Digest StreamDigest() { return stream_hash_.Finish(); }

 private:
  gzip::GzipDecoder decoder_;
  std::vector<gzip::MemberInfo> ended_;
  std::vector<ScannedMember> members_;
  digest::Sha256 stream_hash_, member_hash_;
  uint64_t pos_ = 0, hashed_ = 0;
};

class DigestingSource : public io::ByteSource {
 public:
  explicit DigestingSource(io::ByteSource* in) : in_(in) {}
  Result<size_t> Read(char* buf, size_t n) override {
    SL_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    hash_.Update(buf, got);
    bytes_ += got;
    return got;
  }
  uint64_t bytes() const { return bytes_; }
  digest::Digest Finish() { return hash_.Finish(); }

 private:
  io::ByteSource* in_;
  digest::Sha256 hash_;
  uint64_t bytes_ = 0;
};

}  // namespace

Result<ScanResult> ScanLayer(io::ByteSource* blob) {
  DigestingSource raw(blob);
  MemberHashingSource stream(&raw);
  tar::Reader reader(&stream, [](std::string_view) { return Status::Ok(); });
  ScanResult result;
  std::vector<char> buf(1 << 20);
  for (;;) {
    toc::Entry e;
    SL_ASSIGN_OR_RETURN(bool more, reader.Next(&e.meta));
    if (!more) break;
    if (e.meta.type == tar::EntryType::kRegular) {
      digest::Sha256 h;
      for (;;) {
        SL_ASSIGN_OR_RETURN(size_t n, reader.ReadData(buf.data(), buf.size()));
        if (n == 0) break;
        h.Update(buf.data(), n);
      }
      e.digest = h.Finish();
    }
    result.toc.entries.push_back(std::move(e));
  }
  // Drain: the ToC and footer members decompress to nothing but must be read and checked.
  char tail[4096];
  for (;;) {
    SL_ASSIGN_OR_RETURN(size_t n, stream.Read(tail, sizeof tail));
    if (n == 0) break;
    return Status::Corruption("bytes after the end of the tar stream");  // reader consumed all
  }
  result.toc.tar_size = stream.position();
  result.toc.diff_id = stream.StreamDigest();
  result.blob_size = raw.bytes();
  result.blob_digest = raw.Finish();
  const std::vector<ScannedMember>& members = stream.members();
  result.members = members.size();
  for (const ScannedMember& m : members) {
    if (m.info.uncompressed_size > 0) {
      result.data_end = m.info.compressed_offset + m.info.compressed_size;
    }
  }

  // Map each file's content onto whole members.
  for (toc::Entry& e : result.toc.entries) {
    if (e.meta.type != tar::EntryType::kRegular || e.meta.data_size == 0) continue;
    auto not_aligned = [&](std::string why) {
      return Status::FailedPrecondition("not a seekable layer: content of '" + e.meta.path +
                                        "' (tar offset " + std::to_string(e.meta.data_offset) +
                                        ") " + why);
    };
    auto it = std::lower_bound(members.begin(), members.end(), e.meta.data_offset,
                               [](const ScannedMember& m, uint64_t off) {
                                 return m.info.uncompressed_offset < off ||
                                        (m.info.uncompressed_offset == off && m.info.uncompressed_size == 0);
                               });
    if (it == members.end() || it->info.uncompressed_offset != e.meta.data_offset) {
      return not_aligned("does not start on a gzip member boundary");
    }
    uint64_t end = e.meta.data_offset + e.meta.data_size, pos = e.meta.data_offset;
    for (; it != members.end() && pos < end; ++it) {
      if (it->info.uncompressed_size == 0) return not_aligned("is interrupted by an empty member");
      if (it->info.uncompressed_size > kChunkSize) {
        return not_aligned("lies in a member larger than the " + std::to_string(kChunkSize) + "-byte chunk limit");
      }
      if (pos + it->info.uncompressed_size > end) {
        return not_aligned("does not end on a gzip member boundary");
      }
      toc::Chunk c;
      c.compressed_offset = it->info.compressed_offset;
      c.compressed_size = it->info.compressed_size;
      c.file_offset = pos - e.meta.data_offset;
      c.size = it->info.uncompressed_size;
      c.digest = it->digest;
      e.chunks.push_back(c);
      pos += c.size;
    }
    if (pos != end) return not_aligned("is cut short");
  }
  return result;
}

Result<VerifyResult> VerifyLayer(const io::RandomAccessReader& blob) {
  VerifyResult v;
  SL_ASSIGN_OR_RETURN(v.embedded, ReadEmbeddedToc(blob));
  struct ReaderSource : io::ByteSource {
    const io::RandomAccessReader* r;
    uint64_t off = 0;
    Result<size_t> Read(char* buf, size_t n) override {
      SL_ASSIGN_OR_RETURN(size_t got, r->ReadAt(off, buf, n));
      off += got;
      return got;
    }
  } src;
  src.r = &blob;
  SL_ASSIGN_OR_RETURN(v.scan, ScanLayer(&src));
  if (v.scan.data_end != v.embedded.footer.toc_offset) {
    return Status::Corruption("the data members end at " + std::to_string(v.scan.data_end) +
                              " but the footer puts the ToC at " +
                              std::to_string(v.embedded.footer.toc_offset));
  }
  const auto& a = v.embedded.toc;
  const auto& b = v.scan.toc;
  if (a.tar_size != b.tar_size || a.diff_id != b.diff_id) {
    return Status::Corruption("embedded ToC describes a different tar stream (diffID " +
                              a.diff_id.ToString() + ", scan " + b.diff_id.ToString() + ")");
  }
  if (a.entries.size() != b.entries.size()) {
    return Status::Corruption("embedded ToC has " + std::to_string(a.entries.size()) +
                              " entries, the blob " + std::to_string(b.entries.size()));
  }
  for (size_t i = 0; i < a.entries.size(); ++i) {
    if (!(a.entries[i] == b.entries[i])) {
      return Status::Corruption("embedded ToC entry " + std::to_string(i) + " ('" +
                                a.entries[i].meta.path + "') differs from the blob");
    }
  }
  if (toc::EncodeToc(b) != v.embedded.encoded) {
    return Status::Corruption("embedded ToC encoding differs from the scan");
  }
  return v;
}

}  // namespace starlight::seekable
