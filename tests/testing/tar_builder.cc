#include "tests/testing/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace starlight::testing {

namespace {

constexpr size_t kBlock = 512;

void PutString(std::string& b, size_t off, size_t len, std::string_view s) {
  if (s.size() > len) throw std::runtime_error("tar field too long: " + std::string(s));
  std::memcpy(b.data() + off, s.data(), s.size());
}

// Octal with a NUL terminator when it fits in len-1 digits, else base-256 (GNU/star).
void PutNumber(std::string& b, size_t off, size_t len, int64_t v, bool force_base256 = false) {
  uint64_t max_octal = (len - 1) * 3 >= 64 ? UINT64_MAX : (uint64_t{1} << ((len - 1) * 3)) - 1;
  if (!force_base256 && v >= 0 && static_cast<uint64_t>(v) <= max_octal) {
    std::string digits(len - 1, '0');
    uint64_t u = static_cast<uint64_t>(v);
    for (size_t i = len - 1; i-- > 0;) {
      digits[i] = static_cast<char>('0' + (u & 7));
      u >>= 3;
    }
    PutString(b, off, len, digits);
    b[off + len - 1] = '\0';
    return;
  }
  // Base-256, two's complement, big-endian; first byte 0x80 (positive) or 0xff (negative).
  uint64_t u = static_cast<uint64_t>(v);
  for (size_t i = len; i-- > 1;) {
    b[off + i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  b[off] = static_cast<char>(v < 0 ? 0xff : 0x80);
}

void PutSpans(std::string& b, size_t off, const std::vector<tar::SparseSpan>& spans) {
  for (size_t i = 0; i < spans.size(); ++i) {
    PutNumber(b, off + i * 24, 12, static_cast<int64_t>(spans[i].offset));
    PutNumber(b, off + i * 24 + 12, 12, static_cast<int64_t>(spans[i].length));
  }
}

void FinishChecksum(std::string& b, bool corrupt) {
  std::memset(b.data() + 148, ' ', 8);
  uint64_t sum = 0;
  for (unsigned char c : b) sum += c;
  if (corrupt) sum += 1;
  PutNumber(b, 148, 7, static_cast<int64_t>(sum));  // 6 digits + NUL
  b[155] = ' ';
}

}  // namespace

std::string EncodeHeader(const Header& h) {
  std::string b(kBlock, '\0');
  PutString(b, 0, 100, h.name);
  PutNumber(b, 100, 8, h.mode);
  PutNumber(b, 108, 8, static_cast<int64_t>(h.uid));
  PutNumber(b, 116, 8, static_cast<int64_t>(h.gid));
  PutNumber(b, 124, 12, static_cast<int64_t>(h.size), h.base256_size);
  PutNumber(b, 136, 12, h.mtime);
  b[156] = h.typeflag;
  PutString(b, 157, 100, h.linkname);
  switch (h.magic) {
    case Magic::kUstar:
      PutString(b, 257, 6, std::string_view("ustar\0", 6));
      PutString(b, 263, 2, "00");
      break;
    case Magic::kGnu:
      PutString(b, 257, 8, std::string_view("ustar  \0", 8));
      break;
    case Magic::kV7:
      break;
  }
  if (h.magic != Magic::kV7) {
    PutString(b, 265, 32, h.uname);
    PutString(b, 297, 32, h.gname);
    if (h.typeflag == '3' || h.typeflag == '4') {
      PutNumber(b, 329, 8, h.devmajor);
      PutNumber(b, 337, 8, h.devminor);
    }
  }
  if (h.magic == Magic::kUstar) PutString(b, 345, 155, h.prefix);
  if (h.magic == Magic::kGnu && h.typeflag == 'S') {
    if (h.sparse.size() > 4) throw std::runtime_error("at most 4 spans in a GNU header");
    PutSpans(b, 386, h.sparse);
    b[482] = h.sparse_extended ? 1 : 0;
    PutNumber(b, 483, 12, static_cast<int64_t>(h.realsize));
  }
  FinishChecksum(b, h.corrupt_checksum);
  return b;
}

std::string EncodeSparseExtension(const std::vector<tar::SparseSpan>& spans, bool more) {
  if (spans.size() > 21) throw std::runtime_error("at most 21 spans per extension block");
  std::string b(kBlock, '\0');
  PutSpans(b, 0, spans);
  b[504] = more ? 1 : 0;
  return b;
}

std::string PaxRecord(std::string_view key, std::string_view value) {
  size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  std::string r = std::to_string(len);
  r += ' ';
  r += key;
  r += '=';
  r += value;
  r += '\n';
  return r;
}

std::string PadToBlock(std::string data) {
  data.resize((data.size() + kBlock - 1) / kBlock * kBlock, '\0');
  return data;
}

TarBuilder& TarBuilder::Add(Header h, std::string_view data, bool keep_size) {
  if (!keep_size) h.size = data.size();
  out_ += EncodeHeader(h);
  out_ += PadToBlock(std::string(data));
  return *this;
}

TarBuilder& TarBuilder::File(std::string_view name, std::string_view content, uint32_t mode) {
  Header h;
  h.name = name;
  h.mode = mode;
  return Add(h, content);
}

TarBuilder& TarBuilder::Dir(std::string_view name, uint32_t mode) {
  Header h;
  h.name = name;
  h.mode = mode;
  h.typeflag = '5';
  return Add(h);
}

TarBuilder& TarBuilder::Symlink(std::string_view name, std::string_view target) {
  Header h;
  h.name = name;
  h.mode = 0777;
  h.typeflag = '2';
  h.linkname = target;
  return Add(h);
}

TarBuilder& TarBuilder::Hardlink(std::string_view name, std::string_view target) {
  Header h;
  h.name = name;
  h.typeflag = '1';
  h.linkname = target;
  return Add(h);
}

TarBuilder& TarBuilder::Pax(std::string_view records, char type, std::string_view name) {
  Header h;
  h.name = name;
  h.typeflag = type;
  return Add(h, records);
}

TarBuilder& TarBuilder::Pax(const std::vector<std::pair<std::string, std::string>>& kv, char type) {
  std::string records;
  for (const auto& [k, v] : kv) records += PaxRecord(k, v);
  return Pax(records, type);
}

TarBuilder& TarBuilder::GnuLong(char type, std::string_view value) {
  Header h;
  h.name = "././@LongLink";
  h.typeflag = type;
  h.magic = Magic::kGnu;
  h.mode = 0644;
  h.uid = h.gid = 0;
  h.uname = h.gname = "root";
  h.mtime = 0;
  std::string data(value);
  data.push_back('\0');
  return Add(h, data);
}

TarBuilder& TarBuilder::OldGnuSparse(Header h, const std::vector<tar::SparseSpan>& spans,
                                     uint64_t realsize, std::string_view stored) {
  h.magic = Magic::kGnu;
  h.typeflag = 'S';
  h.realsize = realsize;
  h.sparse.assign(spans.begin(), spans.begin() + std::min<size_t>(4, spans.size()));
  h.sparse_extended = spans.size() > 4;
  h.size = stored.size();
  out_ += EncodeHeader(h);
  for (size_t i = 4; i < spans.size(); i += 21) {
    size_t end = std::min(spans.size(), i + 21);
    out_ += EncodeSparseExtension({spans.begin() + i, spans.begin() + end}, end < spans.size());
  }
  out_ += PadToBlock(std::string(stored));
  return *this;
}

TarBuilder& TarBuilder::PaxSparse10(Header h, const std::vector<tar::SparseSpan>& spans,
                                    uint64_t realsize, std::string_view stored) {
  Pax({{"GNU.sparse.major", "1"},
       {"GNU.sparse.minor", "0"},
       {"GNU.sparse.name", h.name},
       {"GNU.sparse.realsize", std::to_string(realsize)}});
  std::string map = std::to_string(spans.size()) + "\n";
  for (const auto& s : spans) map += std::to_string(s.offset) + "\n" + std::to_string(s.length) + "\n";
  std::string data = PadToBlock(map);
  data += stored;
  h.name = "GNUSparseFile.0/" + h.name;
  return Add(h, data);
}

TarBuilder& TarBuilder::Raw(std::string_view bytes) {
  out_ += bytes;
  return *this;
}

TarBuilder& TarBuilder::End(int zero_blocks) {
  out_.append(kBlock * static_cast<size_t>(zero_blocks), '\0');
  return *this;
}

// ---- libarchive ----

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t WriteCallback(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

void Check(archive* a, int rc, const char* what) {
  if (rc < ARCHIVE_WARN) {
    throw std::runtime_error(std::string("libarchive ") + what + ": " +
                             (archive_error_string(a) ? archive_error_string(a) : "?"));
  }
}

}  // namespace

std::string WriteWithLibarchive(ArchiveFormat format, const std::vector<ArchiveEntrySpec>& entries) {
  std::string out;
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive* w = a.get();
  switch (format) {
    case ArchiveFormat::kPax: Check(w, archive_write_set_format_pax(w), "format"); break;
    case ArchiveFormat::kPaxRestricted:
      Check(w, archive_write_set_format_pax_restricted(w), "format");
      break;
    case ArchiveFormat::kGnuTar: Check(w, archive_write_set_format_gnutar(w), "format"); break;
    case ArchiveFormat::kUstar: Check(w, archive_write_set_format_ustar(w), "format"); break;
  }
  Check(w, archive_write_add_filter_none(w), "filter");
  Check(w, archive_write_open(w, &out, nullptr, WriteCallback, nullptr), "open");
  for (const ArchiveEntrySpec& s : entries) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry* ae = e.get();
    archive_entry_copy_pathname(ae, s.path.c_str());
    archive_entry_set_filetype(ae, s.filetype);
    archive_entry_set_perm(ae, s.perm);
    archive_entry_set_uid(ae, s.uid);
    archive_entry_set_gid(ae, s.gid);
    archive_entry_copy_uname(ae, s.uname.c_str());
    archive_entry_copy_gname(ae, s.gname.c_str());
    archive_entry_set_mtime(ae, s.mtime, s.mtime_nsec);
    if (!s.symlink.empty()) archive_entry_copy_symlink(ae, s.symlink.c_str());
    if (!s.hardlink.empty()) archive_entry_copy_hardlink(ae, s.hardlink.c_str());
    if (s.filetype == 0020000 || s.filetype == 0060000) {
      archive_entry_set_rdevmajor(ae, s.devmajor);
      archive_entry_set_rdevminor(ae, s.devminor);
    }
    for (const auto& [k, v] : s.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    bool has_data = s.filetype == 0100000 && s.hardlink.empty();
    archive_entry_set_size(ae, has_data ? static_cast<la_int64_t>(s.content.size()) : 0);
    Check(w, archive_write_header(w, ae), "write header");
    if (has_data && !s.content.empty()) {
      la_ssize_t n = archive_write_data(w, s.content.data(), s.content.size());
      if (n != static_cast<la_ssize_t>(s.content.size())) Check(w, ARCHIVE_FATAL, "write data");
    }
  }
  Check(w, archive_write_close(w), "close");
  return out;
}

std::string PseudoRandomBytes(size_t n, uint64_t seed, bool text) {
  static constexpr std::string_view kWords[] = {"alpha ", "beta ", "gamma\n", "delta ", "eps ",
                                                "zeta\t", "eta ", "theta "};
  std::string out;
  out.reserve(n + 8);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  while (out.size() < n) {
    uint64_t r = next();
    if (text) {
      out += kWords[r % 8];
    } else {
      for (int i = 0; i < 8 && out.size() < n; ++i) out.push_back(static_cast<char>(r >> (8 * i)));
    }
  }
  out.resize(n);
  return out;
}

}  // namespace starlight::testing
