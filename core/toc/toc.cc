#include "core/toc/toc.h"

#include <zlib.h>

#include <map>

#include "core/coding/coding.h"

namespace starlight::toc {

using coding::Decoder;

bool Entry::operator==(const Entry& o) const {
  const tar::Entry& a = meta;
  const tar::Entry& b = o.meta;
  return a.path == b.path && a.type == b.type && a.typeflag == b.typeflag && a.mode == b.mode &&
         a.uid == b.uid && a.gid == b.gid && a.uname == b.uname && a.gname == b.gname &&
         a.mtime_sec == b.mtime_sec && a.mtime_nsec == b.mtime_nsec && a.size == b.size &&
         a.linkname == b.linkname && a.devmajor == b.devmajor && a.devminor == b.devminor &&
         a.xattrs == b.xattrs && a.sparse == b.sparse && a.sparse_map == b.sparse_map &&
         a.header_offset == b.header_offset && a.data_offset == b.data_offset &&
         a.data_size == b.data_size && digest == o.digest && chunks == o.chunks;
}

namespace {
constexpr uint8_t kFlagSparse = 1;
constexpr uint8_t kFlagDigest = 2;
}  // namespace

std::string EncodeToc(const Toc& toc) {
  std::string out;
  coding::PutFixed32(&out, kTocMagic);
  coding::PutFixed16(&out, kTocVersion);
  coding::PutFixed16(&out, 0);
  coding::PutVarint64(&out, toc.tar_size);
  out.append(toc.diff_id.Raw());
  coding::PutVarint64(&out, toc.entries.size());
  // Offsets are deltas (see the spec): they stay one or two bytes and deflate well.
  uint64_t prev_data_end = 0, prev_chunk_end = 0;
  for (const Entry& e : toc.entries) {
    const tar::Entry& m = e.meta;
    out.push_back(static_cast<char>(m.type));
    out.push_back(m.typeflag);
    coding::PutLengthPrefixed(&out, m.path);
    coding::PutVarint64(&out, m.mode);
    coding::PutVarint64(&out, m.uid);
    coding::PutVarint64(&out, m.gid);
    coding::PutLengthPrefixed(&out, m.uname);
    coding::PutLengthPrefixed(&out, m.gname);
    coding::PutVarsint64(&out, m.mtime_sec);
    coding::PutVarint64(&out, m.mtime_nsec);
    coding::PutVarint64(&out, m.size);
    coding::PutLengthPrefixed(&out, m.linkname);
    coding::PutVarint64(&out, m.devmajor);
    coding::PutVarint64(&out, m.devminor);
    coding::PutVarint64(&out, m.xattrs.size());
    for (const auto& [k, v] : m.xattrs) {
      coding::PutLengthPrefixed(&out, k);
      coding::PutLengthPrefixed(&out, v);
    }
    coding::PutVarint64(&out, m.header_offset - prev_data_end);
    coding::PutVarint64(&out, m.data_offset - m.header_offset);
    coding::PutVarint64(&out, m.data_size);
    prev_data_end = m.data_offset + m.data_size;
    bool has_digest = m.type == tar::EntryType::kRegular;
    out.push_back(static_cast<char>((m.sparse ? kFlagSparse : 0) | (has_digest ? kFlagDigest : 0)));
    if (has_digest) out.append(e.digest.Raw());
    if (m.sparse) {
      coding::PutVarint64(&out, m.sparse_map.size());
      for (const auto& sp : m.sparse_map) {
        coding::PutVarint64(&out, sp.offset);
        coding::PutVarint64(&out, sp.length);
      }
    }
    coding::PutVarint64(&out, e.chunks.size());
    for (const Chunk& c : e.chunks) {
      coding::PutVarint64(&out, c.compressed_offset - prev_chunk_end);
      coding::PutVarint64(&out, c.compressed_size);
      prev_chunk_end = c.compressed_offset + c.compressed_size;
      coding::PutVarint64(&out, c.size);
      if (e.chunks.size() > 1) out.append(c.digest.Raw());
    }
  }
  coding::PutFixed32(&out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(out.data()),
                                                        static_cast<uInt>(out.size()))));
  return out;
}

Result<Toc> DecodeToc(std::string_view data) {
  auto bad = [&](std::string what) { return Status::Corruption("ToC: " + what); };
  if (data.size() < 12) return bad("too short");
  uint32_t stored_crc = coding::DecodeFixed32(reinterpret_cast<const uint8_t*>(data.data() + data.size() - 4));
  std::string_view body = data.substr(0, data.size() - 4);
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  Decoder d(body);
  uint32_t magic;
  uint16_t version, flags;
  d.GetFixed32(&magic);
  d.GetFixed16(&version);
  d.GetFixed16(&flags);
  if (magic != kTocMagic) return bad("bad magic");
  if (version != kTocVersion) {
    return Status::NotSupported("ToC version " + std::to_string(version) + " (this build reads " +
                                std::to_string(kTocVersion) + ")");
  }
  if (crc != stored_crc) return bad("checksum mismatch");
  Toc toc;
  std::string_view raw;
  uint64_t count;
  if (!d.GetVarint64(&toc.tar_size) || !d.GetBytes(32, &raw) || !d.GetVarint64(&count)) {
    return bad("truncated header");
  }
  toc.diff_id = digest::Digest::FromRaw(raw);
  if (count > d.remaining()) return bad("entry count exceeds data");
  toc.entries.reserve(count);
  uint64_t prev_data_end = 0, prev_chunk_end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    Entry e;
    tar::Entry& m = e.meta;
    uint8_t type, typeflag, eflags;
    std::string_view path, uname, gname, link;
    uint64_t mode, mnsec, devmajor, devminor, nx;
    bool ok = d.GetFixed8(&type) && d.GetFixed8(&typeflag) && d.GetLengthPrefixed(&path) &&
              d.GetVarint64(&mode) && d.GetVarint64(&m.uid) && d.GetVarint64(&m.gid) &&
              d.GetLengthPrefixed(&uname) && d.GetLengthPrefixed(&gname) &&
              d.GetVarsint64(&m.mtime_sec) && d.GetVarint64(&mnsec) && d.GetVarint64(&m.size) &&
              d.GetLengthPrefixed(&link) && d.GetVarint64(&devmajor) && d.GetVarint64(&devminor) &&
              d.GetVarint64(&nx);
    if (!ok || type > static_cast<uint8_t>(tar::EntryType::kOther) || mode > 07777 ||
        mnsec >= 1000000000 || devmajor > UINT32_MAX || devminor > UINT32_MAX || nx > d.remaining()) {
      return bad("entry " + std::to_string(i) + " is malformed");
    }
    m.type = static_cast<tar::EntryType>(type);
    m.typeflag = static_cast<char>(typeflag);
    m.path = path;
    m.mode = static_cast<uint32_t>(mode);
    m.uname = uname;
    m.gname = gname;
    m.mtime_nsec = static_cast<uint32_t>(mnsec);
    m.linkname = link;
    m.devmajor = static_cast<uint32_t>(devmajor);
    m.devminor = static_cast<uint32_t>(devminor);
    for (uint64_t x = 0; x < nx; ++x) {
      std::string_view k, v;
      if (!d.GetLengthPrefixed(&k) || !d.GetLengthPrefixed(&v)) return bad("xattr truncated");
      m.xattrs.emplace_back(std::string(k), std::string(v));
    }
    uint64_t header_delta, data_delta;
    if (!d.GetVarint64(&header_delta) || !d.GetVarint64(&data_delta) ||
        !d.GetVarint64(&m.data_size) || !d.GetFixed8(&eflags) || (eflags & ~3) != 0) {
      return bad("entry " + std::to_string(i) + " offsets malformed");
    }
    // The spec: "has digest" is set exactly for regular files.
    if (((eflags & kFlagDigest) != 0) != (m.type == tar::EntryType::kRegular)) {
      return bad("entry " + std::to_string(i) + " has a digest flag that does not match its type");
    }
    if (header_delta > toc.tar_size || data_delta > toc.tar_size ||
        prev_data_end + header_delta + data_delta > toc.tar_size ||
        m.data_size > toc.tar_size - (prev_data_end + header_delta + data_delta)) {
      return bad("entry '" + m.path + "' lies outside the tar stream");
    }
    m.header_offset = prev_data_end + header_delta;
    m.data_offset = m.header_offset + data_delta;
    prev_data_end = m.data_offset + m.data_size;
    if (eflags & kFlagDigest) {
      if (!d.GetBytes(32, &raw)) return bad("digest truncated");
      e.digest = digest::Digest::FromRaw(raw);
    }
    m.sparse = eflags & kFlagSparse;
    if (m.sparse) {
      uint64_t ns;
      if (!d.GetVarint64(&ns) || ns > d.remaining()) return bad("sparse map malformed");
      for (uint64_t s = 0; s < ns; ++s) {
        tar::SparseSpan sp;
        if (!d.GetVarint64(&sp.offset) || !d.GetVarint64(&sp.length)) return bad("sparse map truncated");
        m.sparse_map.push_back(sp);
      }
    }
    uint64_t nc;
    if (!d.GetVarint64(&nc) || nc > d.remaining()) return bad("chunk list malformed");
    uint64_t file_offset = 0;
    for (uint64_t c = 0; c < nc; ++c) {
      Chunk ch;
      uint64_t gap;
      if (!d.GetVarint64(&gap) || !d.GetVarint64(&ch.compressed_size) || !d.GetVarint64(&ch.size)) {
        return bad("chunk truncated");
      }
      if (gap > (UINT64_MAX >> 2) || ch.compressed_size > (UINT64_MAX >> 2) ||
          prev_chunk_end > (UINT64_MAX >> 1)) {
        return bad("chunk offset out of range");
      }
      ch.compressed_offset = prev_chunk_end + gap;
      prev_chunk_end = ch.compressed_offset + ch.compressed_size;
      if (nc > 1) {
        if (!d.GetBytes(32, &raw)) return bad("chunk digest truncated");
        ch.digest = digest::Digest::FromRaw(raw);
      } else {
        ch.digest = e.digest;
      }
      ch.file_offset = file_offset;
      if (ch.size == 0 || ch.size > m.data_size - file_offset) {
        return bad("chunks of '" + m.path + "' do not match its size");
      }
      file_offset += ch.size;
      e.chunks.push_back(ch);
    }
    if (file_offset != m.data_size || (m.type != tar::EntryType::kRegular && nc != 0)) {
      return bad("chunks of '" + m.path + "' do not cover its content");
    }
    toc.entries.push_back(std::move(e));
  }
  if (!d.empty()) return bad("trailing bytes");
  return toc;
}

std::string Summary(const Toc& toc) {
  std::map<std::string_view, uint64_t> by_type;
  uint64_t content = 0, chunks = 0, largest = 0;
  for (const Entry& e : toc.entries) {
    by_type[tar::EntryTypeName(e.meta.type)]++;
    content += e.meta.data_size;
    chunks += e.chunks.size();
    largest = std::max(largest, e.meta.data_size);
  }
  std::string s = std::to_string(toc.entries.size()) + " entries (";
  bool first = true;
  for (const auto& [t, n] : by_type) {
    if (!first) s += ", ";
    first = false;
    s += std::to_string(n) + " " + std::string(t);
  }
  s += "), " + std::to_string(content) + " content bytes in " + std::to_string(chunks) +
       " chunks, largest file " + std::to_string(largest) + " bytes, tar stream " +
       std::to_string(toc.tar_size) + " bytes, diffID " + toc.diff_id.ToString();
  return s;
}

}  // namespace starlight::toc
