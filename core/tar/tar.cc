#include "core/tar/tar.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace starlight::tar {

std::string_view EntryTypeName(EntryType t) {
  switch (t) {
    case EntryType::kRegular: return "reg";
    case EntryType::kHardlink: return "hardlink";
    case EntryType::kSymlink: return "symlink";
    case EntryType::kCharDevice: return "char";
    case EntryType::kBlockDevice: return "block";
    case EntryType::kDirectory: return "dir";
    case EntryType::kFifo: return "fifo";
    case EntryType::kOther: return "other";
  }
  return "other";
}

Result<std::string> NormalizePath(std::string_view raw) {
  if (raw.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path contains a NUL byte");
  }
  if (!raw.empty() && raw[0] == '/') {
    return Status::InvalidArgument("absolute path '" + std::string(raw) + "'");
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (parts.empty()) {
        return Status::InvalidArgument("path '" + std::string(raw) + "' escapes the root");
      }
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  if (parts.empty()) return std::string(".");
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out.push_back('/');
    out.append(parts[k]);
  }
  return out;
}

namespace {

std::string_view Field(const char* block, size_t off, size_t len) {
  std::string_view f(block + off, len);
  size_t nul = f.find('\0');
  return nul == std::string_view::npos ? f : f.substr(0, nul);
}

// Octal (space/NUL padded) or base-256 (GNU/star) numbers. Negative base-256 values fail.
bool ParseNumeric(const char* p, size_t len, uint64_t* out) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  if (len > 0 && (u[0] & 0x80)) {
    if (u[0] == 0xff) return false;  // negative
    uint64_t v = u[0] & 0x3f;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return false;  // overflow
      v = (v << 8) | u[i];
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == '\0')) ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 61) return false;
    v = v * 8 + static_cast<uint64_t>(p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return false;
  }
  *out = any ? v : 0;
  return true;
}

bool ParseSignedTime(const char* p, size_t len, int64_t* out) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  if (len > 0 && u[0] == 0xff) {  // negative base-256
    int64_t v = -1;
    for (size_t i = 1; i < len; ++i) v = static_cast<int64_t>((static_cast<uint64_t>(v) << 8) | u[i]);
    *out = v;
    return true;
  }
  uint64_t v;
  if (!ParseNumeric(p, len, &v) || v > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

bool IsZeroBlock(const char* b) {
  for (size_t i = 0; i < kBlockSize; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

bool ChecksumOk(const char* b) {
  uint64_t stored;
  if (!ParseNumeric(b + 148, 8, &stored)) return false;
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    char c = (i >= 148 && i < 156) ? ' ' : b[i];
    unsigned_sum += static_cast<uint8_t>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || static_cast<int64_t>(stored) == signed_sum;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "1700000000.123456789" or "-1.5" -> seconds, nanoseconds (floor semantics for negatives).
bool ParsePaxTime(std::string_view s, int64_t* sec, uint32_t* nsec) {
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  uint64_t w;
  if (!ParseDecimal(whole, &w) || w > static_cast<uint64_t>(INT64_MAX)) return false;
  uint32_t ns = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return false;
    if (i < 9) ns = ns * 10 + static_cast<uint32_t>(frac[i] - '0');
  }
  for (size_t i = frac.size(); i < 9; ++i) ns *= 10;
  if (!neg) {
    *sec = static_cast<int64_t>(w);
    *nsec = ns;
  } else if (ns == 0) {
    *sec = -static_cast<int64_t>(w);
    *nsec = 0;
  } else {
    *sec = -static_cast<int64_t>(w) - 1;
    *nsec = 1000000000u - ns;
  }
  return true;
}

// PAX extended header records: "<len> <key>=<value>\n".
Status ParsePax(std::string_view data, std::vector<std::pair<std::string, std::string>>* out) {
  while (!data.empty()) {
    if (data[0] == '\0') break;  // some writers pad with NULs
    size_t sp = data.find(' ');
    uint64_t len;
    if (sp == std::string_view::npos || !ParseDecimal(data.substr(0, sp), &len) ||
        len <= sp + 1 || len > data.size() || data[len - 1] != '\n') {
      return Status::Corruption("malformed PAX record");
    }
    std::string_view rec = data.substr(sp + 1, len - sp - 2);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos) return Status::Corruption("PAX record without '='");
    out->emplace_back(std::string(rec.substr(0, eq)), std::string(rec.substr(eq + 1)));
    data.remove_prefix(len);
  }
  return Status::Ok();
}

EntryType TypeOf(char flag) {
  switch (flag) {
    case '0': case '\0': case '7': case 'S': return EntryType::kRegular;
    case '1': return EntryType::kHardlink;
    case '2': return EntryType::kSymlink;
    case '3': return EntryType::kCharDevice;
    case '4': return EntryType::kBlockDevice;
    case '5': return EntryType::kDirectory;
    case '6': return EntryType::kFifo;
    default: return EntryType::kOther;
  }
}

// Entry types whose size field does not announce a data area (as Go's archive/tar, which is
// what containerd and Docker extract with).
bool HeaderOnly(char flag) { return flag >= '1' && flag <= '6'; }

}  // namespace

Reader::Reader(io::ByteSource* src, MetadataSink metadata)
    : src_(src), metadata_(std::move(metadata)) {}

Status Reader::ReadBlock(char* block, std::string_view what) {
  Status s = io::ReadFull(src_, block, kBlockSize, what);
  if (!s.ok()) {
    return Status::Corruption("truncated tar: " + std::string(what) + " at offset " +
                              std::to_string(offset_));
  }
  offset_ += kBlockSize;
  return metadata_(std::string_view(block, kBlockSize));
}

Status Reader::ReadRecord(uint64_t size, std::string* out, std::string_view what) {
  if (size > kMaxMetadataRecord) {
    return Status::Corruption(std::string(what) + " of " + std::to_string(size) +
                              " bytes at offset " + std::to_string(offset_) + " exceeds the limit");
  }
  uint64_t padded = (size + kBlockSize - 1) / kBlockSize * kBlockSize;
  out->resize(padded);
  Status s = io::ReadFull(src_, out->data(), padded, what);
  if (!s.ok()) {
    return Status::Corruption("truncated tar: " + std::string(what) + " at offset " +
                              std::to_string(offset_));
  }
  offset_ += padded;
  SL_RETURN_IF_ERROR(metadata_(*out));
  out->resize(size);
  return Status::Ok();
}

Status Reader::PassThrough(uint64_t n, std::string_view what) {
  char buf[1 << 15];
  while (n > 0) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof buf));
    Status s = io::ReadFull(src_, buf, k, what);
    if (!s.ok()) {
      return Status::Corruption("truncated tar: " + std::string(what) + " at offset " +
                                std::to_string(offset_));
    }
    offset_ += k;
    n -= k;
    SL_RETURN_IF_ERROR(metadata_(std::string_view(buf, k)));
  }
  return Status::Ok();
}

Status Reader::Trailing() {
  char buf[1 << 15];
  for (;;) {
    SL_ASSIGN_OR_RETURN(size_t n, src_->Read(buf, sizeof buf));
    if (n == 0) return Status::Ok();
    offset_ += n;
    SL_RETURN_IF_ERROR(metadata_(std::string_view(buf, n)));
  }
}

Result<size_t> Reader::ReadData(char* buf, size_t n) {
  if (data_remaining_ == 0) return size_t{0};
  size_t k = static_cast<size_t>(std::min<uint64_t>(n, data_remaining_));
  SL_ASSIGN_OR_RETURN(size_t got, src_->Read(buf, k));
  if (got == 0) {
    return Status::Corruption("truncated tar: content of '" + current_path_ + "' ends at offset " +
                              std::to_string(offset_) + " with " +
                              std::to_string(data_remaining_) + " bytes missing");
  }
  offset_ += got;
  data_remaining_ -= got;
  return got;
}

Result<bool> Reader::Next(Entry* e) {
  if (ended_) return false;
  // Finish the previous entry: skip unread content, pass its padding through.
  if (data_remaining_ > 0) {
    char buf[1 << 15];
    while (data_remaining_ > 0) {
      SL_ASSIGN_OR_RETURN(size_t n, ReadData(buf, sizeof buf));
      (void)n;
    }
  }
  if (padding_ > 0) {
    SL_RETURN_IF_ERROR(PassThrough(padding_, "padding"));
    padding_ = 0;
  }

  *e = Entry{};
  e->header_offset = offset_;
  std::vector<std::pair<std::string, std::string>> pax = global_pax_;
  std::string gnu_longname, gnu_longlink;
  bool have_longname = false, have_longlink = false;
  char block[kBlockSize];

  for (;;) {
    // End of stream exactly at a header boundary: an archive without end-of-archive blocks.
    {
      SL_ASSIGN_OR_RETURN(size_t n, src_->Read(block, kBlockSize));
      if (n == 0) {
        if (offset_ != e->header_offset) {
          return Status::Corruption("truncated tar: extension record at offset " +
                                    std::to_string(e->header_offset) + " has no entry after it");
        }
        ended_ = true;
        return false;
      }
      if (n < kBlockSize) {
        Status s = io::ReadFull(src_, block + n, kBlockSize - n, "tar header");
        if (!s.ok()) {
          return Status::Corruption("truncated tar: header at offset " + std::to_string(offset_));
        }
      }
    }
    uint64_t block_offset = offset_;
    offset_ += kBlockSize;
    SL_RETURN_IF_ERROR(metadata_(std::string_view(block, kBlockSize)));

    if (IsZeroBlock(block)) {
      if (offset_ - kBlockSize != e->header_offset) {
        return Status::Corruption("tar: zero block after an extension record at offset " +
                                  std::to_string(block_offset));
      }
      // End-of-archive marker; whatever follows (the second zero block, padding to the record
      // size, trailing bytes) is kept verbatim but not interpreted.
      SL_RETURN_IF_ERROR(Trailing());
      ended_ = true;
      return false;
    }
    if (!ChecksumOk(block)) {
      return Status::Corruption("tar: bad header checksum at offset " +
                                std::to_string(block_offset));
    }
    char flag = block[156];
    uint64_t size;
    if (!ParseNumeric(block + 124, 12, &size)) {
      return Status::Corruption("tar: bad size field at offset " + std::to_string(block_offset));
    }
    std::string rec;
    switch (flag) {
      case 'x':
        SL_RETURN_IF_ERROR(ReadRecord(size, &rec, "PAX header"));
        SL_RETURN_IF_ERROR(ParsePax(rec, &pax).WithContext("at offset " + std::to_string(block_offset)));
        continue;
      case 'g': {
        SL_RETURN_IF_ERROR(ReadRecord(size, &rec, "PAX global header"));
        std::vector<std::pair<std::string, std::string>> g;
        SL_RETURN_IF_ERROR(ParsePax(rec, &g).WithContext("at offset " + std::to_string(block_offset)));
        global_pax_.insert(global_pax_.end(), g.begin(), g.end());
        pax.insert(pax.end(), g.begin(), g.end());
        continue;
      }
      case 'L':
        SL_RETURN_IF_ERROR(ReadRecord(size, &gnu_longname, "GNU long name"));
        gnu_longname = std::string(Field(gnu_longname.data(), 0, gnu_longname.size()));
        have_longname = true;
        continue;
      case 'K':
        SL_RETURN_IF_ERROR(ReadRecord(size, &gnu_longlink, "GNU long link"));
        gnu_longlink = std::string(Field(gnu_longlink.data(), 0, gnu_longlink.size()));
        have_longlink = true;
        continue;
      default:
        break;
    }

    // The entry's own header.
    std::string_view magic(block + 257, 6);
    bool ustar = magic == std::string_view("ustar\0", 6);
    bool gnu = magic == std::string_view("ustar ", 6);
    std::string name(Field(block, 0, 100));
    if (ustar) {
      std::string_view prefix = Field(block, 345, 155);
      if (!prefix.empty()) name = std::string(prefix) + "/" + name;
    }
    std::string link(Field(block, 157, 100));
    if (have_longname) name = gnu_longname;
    if (have_longlink) link = gnu_longlink;

    e->typeflag = flag;
    e->type = TypeOf(flag);
    if (flag == '\0' && !name.empty() && name.back() == '/') e->type = EntryType::kDirectory;
    uint64_t v;
    if (!ParseNumeric(block + 100, 8, &v)) return Status::Corruption("tar: bad mode field");
    e->mode = static_cast<uint32_t>(v & 07777);
    if (!ParseNumeric(block + 108, 8, &e->uid) || !ParseNumeric(block + 116, 8, &e->gid)) {
      return Status::Corruption("tar: bad uid/gid field at offset " + std::to_string(block_offset));
    }
    if (!ParseSignedTime(block + 136, 12, &e->mtime_sec)) {
      return Status::Corruption("tar: bad mtime field at offset " + std::to_string(block_offset));
    }
    if (ustar || gnu) {
      e->uname = std::string(Field(block, 265, 32));
      e->gname = std::string(Field(block, 297, 32));
      if (e->type == EntryType::kCharDevice || e->type == EntryType::kBlockDevice) {
        uint64_t ma = 0, mi = 0;
        if (!ParseNumeric(block + 329, 8, &ma) || !ParseNumeric(block + 337, 8, &mi)) {
          return Status::Corruption("tar: bad device numbers at offset " + std::to_string(block_offset));
        }
        e->devmajor = static_cast<uint32_t>(ma);
        e->devminor = static_cast<uint32_t>(mi);
      }
    }

    // Old GNU sparse: map in the header and in extension blocks.
    uint64_t real_size = 0;
    bool have_real_size = false;
    if (flag == 'S') {
      if (!gnu) return Status::Corruption("tar: sparse entry without GNU magic");
      e->sparse = true;
      auto add_spans = [&](const char* base, int count) -> Status {
        for (int i = 0; i < count; ++i) {
          const char* p = base + i * 24;
          if (p[0] == '\0') break;
          SparseSpan sp;
          if (!ParseNumeric(p, 12, &sp.offset) || !ParseNumeric(p + 12, 12, &sp.length)) {
            return Status::Corruption("tar: bad GNU sparse map");
          }
          if (e->sparse_map.size() >= (kMaxMetadataRecord / 16)) {
            return Status::Corruption("tar: GNU sparse map too large");
          }
          e->sparse_map.push_back(sp);
        }
        return Status::Ok();
      };
      SL_RETURN_IF_ERROR(add_spans(block + 386, 4));
      if (!ParseNumeric(block + 483, 12, &real_size)) return Status::Corruption("tar: bad realsize");
      have_real_size = true;
      bool extended = block[482] != 0;
      while (extended) {
        char ext[kBlockSize];
        SL_RETURN_IF_ERROR(ReadBlock(ext, "GNU sparse extension block"));
        SL_RETURN_IF_ERROR(add_spans(ext, 21));
        extended = ext[504] != 0;
      }
    }

    // PAX overrides.
    std::string sparse_name;
    uint64_t sparse_major = 0, sparse_minor = 0;
    bool pax_sparse = false;
    std::vector<uint64_t> pax_sparse_numbers;  // 0.0 offset/numbytes pairs and 0.1 map
    for (const auto& [key, value] : pax) {
      if (key == "path") {
        name = value;
      } else if (key == "linkpath") {
        link = value;
      } else if (key == "size") {
        if (!ParseDecimal(value, &size)) return Status::Corruption("tar: bad PAX size");
      } else if (key == "uid") {
        if (!ParseDecimal(value, &e->uid)) return Status::Corruption("tar: bad PAX uid");
      } else if (key == "gid") {
        if (!ParseDecimal(value, &e->gid)) return Status::Corruption("tar: bad PAX gid");
      } else if (key == "uname") {
        e->uname = value;
      } else if (key == "gname") {
        e->gname = value;
      } else if (key == "mtime") {
        if (!ParsePaxTime(value, &e->mtime_sec, &e->mtime_nsec)) {
          return Status::Corruption("tar: bad PAX mtime '" + value + "'");
        }
      } else if (key.rfind("SCHILY.xattr.", 0) == 0) {
        e->xattrs.emplace_back(key.substr(13), value);
      } else if (key == "SCHILY.devmajor" || key == "SCHILY.devminor") {
        uint64_t d;
        if (!ParseDecimal(value, &d)) return Status::Corruption("tar: bad PAX device number");
        (key == "SCHILY.devmajor" ? e->devmajor : e->devminor) = static_cast<uint32_t>(d);
      } else if (key == "GNU.sparse.major") {
        pax_sparse = true;
        if (!ParseDecimal(value, &sparse_major)) return Status::Corruption("tar: bad GNU.sparse.major");
      } else if (key == "GNU.sparse.minor") {
        if (!ParseDecimal(value, &sparse_minor)) return Status::Corruption("tar: bad GNU.sparse.minor");
      } else if (key == "GNU.sparse.name") {
        sparse_name = value;
        pax_sparse = true;
      } else if (key == "GNU.sparse.realsize" || key == "GNU.sparse.size") {
        if (!ParseDecimal(value, &real_size)) return Status::Corruption("tar: bad GNU.sparse size");
        have_real_size = true;
        pax_sparse = true;
      } else if (key == "GNU.sparse.offset" || key == "GNU.sparse.numbytes") {
        uint64_t d;
        if (!ParseDecimal(value, &d)) return Status::Corruption("tar: bad GNU.sparse map value");
        pax_sparse_numbers.push_back(d);
        pax_sparse = true;
      } else if (key == "GNU.sparse.map") {
        pax_sparse = true;
        std::string_view m = value;
        while (!m.empty()) {
          size_t comma = m.find(',');
          uint64_t d;
          if (!ParseDecimal(m.substr(0, comma), &d)) return Status::Corruption("tar: bad GNU.sparse.map");
          pax_sparse_numbers.push_back(d);
          if (comma == std::string_view::npos) break;
          m.remove_prefix(comma + 1);
        }
      }
    }
    if (!sparse_name.empty()) name = sparse_name;

    if (name.empty()) {
      return Status::Corruption("tar: entry with an empty name at offset " + std::to_string(block_offset));
    }
    auto norm = NormalizePath(name);
    if (!norm.ok()) {
      return Status::InvalidArgument("tar entry '" + name + "' at offset " +
                                     std::to_string(block_offset) + ": " + norm.status().message());
    }
    e->path = std::move(norm).value();
    current_path_ = e->path;
    if (e->type == EntryType::kHardlink) {
      auto target = NormalizePath(link);
      if (!target.ok() || *target == ".") {
        return Status::InvalidArgument("tar entry '" + name + "' at offset " +
                                       std::to_string(block_offset) + ": hard link target '" +
                                       link + "' is invalid or escapes the root");
      }
      e->linkname = std::move(target).value();
    } else if (e->type == EntryType::kSymlink) {
      e->linkname = link;
    }

    uint64_t data_size = HeaderOnly(flag) ? 0 : size;
    e->data_offset = offset_;

    if (pax_sparse && e->type == EntryType::kRegular) {
      e->sparse = true;
      if (sparse_major == 1 && sparse_minor == 0) {
        // PAX sparse 1.0: the map is decimal text at the start of the data area, in blocks.
        // It is metadata: it goes to the sink, and the content is the stored data after it.
        std::string mapbuf;
        uint64_t consumed = 0;
        auto next_number = [&](uint64_t* out) -> Status {
          for (;;) {
            size_t nl = mapbuf.find('\n');
            if (nl != std::string::npos) {
              bool ok = ParseDecimal(std::string_view(mapbuf).substr(0, nl), out);
              mapbuf.erase(0, nl + 1);
              return ok ? Status::Ok() : Status::Corruption("tar: bad PAX sparse 1.0 map");
            }
            if (consumed + kBlockSize > data_size || consumed >= kMaxMetadataRecord) {
              return Status::Corruption("tar: PAX sparse 1.0 map overruns the entry");
            }
            char b[kBlockSize];
            SL_RETURN_IF_ERROR(ReadBlock(b, "PAX sparse map"));
            consumed += kBlockSize;
            mapbuf.append(b, kBlockSize);
          }
        };
        uint64_t count;
        SL_RETURN_IF_ERROR(next_number(&count));
        if (count > kMaxMetadataRecord / 16) return Status::Corruption("tar: PAX sparse map too large");
        for (uint64_t i = 0; i < count; ++i) {
          SparseSpan sp;
          SL_RETURN_IF_ERROR(next_number(&sp.offset));
          SL_RETURN_IF_ERROR(next_number(&sp.length));
          e->sparse_map.push_back(sp);
        }
        data_size -= consumed;
        e->data_offset = offset_;
      } else {
        if (pax_sparse_numbers.size() % 2 != 0) return Status::Corruption("tar: odd GNU.sparse map");
        for (size_t i = 0; i + 1 < pax_sparse_numbers.size(); i += 2) {
          e->sparse_map.push_back({pax_sparse_numbers[i], pax_sparse_numbers[i + 1]});
        }
      }
    }
    if (e->sparse) {
      uint64_t stored = 0;
      for (const auto& sp : e->sparse_map) {
        if (sp.offset + sp.length < sp.offset || (have_real_size && sp.offset + sp.length > real_size)) {
          return Status::Corruption("tar: sparse map of '" + e->path + "' lies outside the file");
        }
        stored += sp.length;
      }
      if (stored != data_size) {
        return Status::Corruption("tar: sparse map of '" + e->path + "' does not match its data size");
      }
      e->size = have_real_size ? real_size : data_size;
    } else {
      e->size = e->type == EntryType::kRegular ? data_size : 0;
    }
    e->data_size = data_size;
    padding_ = (kBlockSize - data_size % kBlockSize) % kBlockSize;
    if (e->type == EntryType::kRegular) {
      data_remaining_ = data_size;
    } else {
      // Data areas of other entry types (dumpdirs, volume labels...) are metadata.
      SL_RETURN_IF_ERROR(PassThrough(data_size, "entry data"));
      e->data_size = 0;
    }
    return true;
  }
}

}  // namespace starlight::tar
