#include "core/gzip/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>

#include "core/coding/coding.h"

namespace starlight::gzip {

namespace {
// ID1 ID2 CM FLG MTIME(4) XFL OS: fixed so that output is a function of the input bytes only.
constexpr uint8_t kPlainHeader[kHeaderSize] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
constexpr uint8_t kFlagExtra = 0x04;
// An empty deflate stream: one final fixed-Huffman block holding only end-of-block.
constexpr uint8_t kEmptyDeflate[2] = {0x03, 0x00};
}  // namespace

bool LooksLikeGzip(std::string_view p) {
  return p.size() >= 3 && static_cast<uint8_t>(p[0]) == 0x1f &&
         static_cast<uint8_t>(p[1]) == 0x8b && p[2] == 8;
}

struct MemberCompressor::Impl {
  libdeflate_compressor* c = nullptr;
};

MemberCompressor::MemberCompressor(int level) : impl_(std::make_unique<Impl>()) {
  impl_->c = libdeflate_alloc_compressor(level);
  if (impl_->c == nullptr) std::abort();  // invalid level is a programming error; OOM
}

MemberCompressor::~MemberCompressor() { libdeflate_free_compressor(impl_->c); }

void MemberCompressor::Compress(std::string_view data, std::string* out) {
  size_t start = out->size();
  size_t bound = libdeflate_deflate_compress_bound(impl_->c, data.size());
  out->resize(start + kHeaderSize + bound + kTrailerSize);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + start);
  std::memcpy(p, kPlainHeader, kHeaderSize);
  size_t n = libdeflate_deflate_compress(impl_->c, data.data(), data.size(), p + kHeaderSize, bound);
  if (n == 0) std::abort();  // cannot happen with a bound-sized buffer
  uint32_t crc = libdeflate_crc32(0, data.data(), data.size());
  coding::EncodeFixed32(p + kHeaderSize + n, crc);
  coding::EncodeFixed32(p + kHeaderSize + n + 4, static_cast<uint32_t>(data.size()));
  out->resize(start + kHeaderSize + n + kTrailerSize);
}

std::string ExtraMember(char si1, char si2, std::string_view payload) {
  std::string m;
  m.reserve(ExtraMemberSize(payload.size()));
  m.append(reinterpret_cast<const char*>(kPlainHeader), kHeaderSize);
  m[3] = static_cast<char>(kFlagExtra);
  coding::PutFixed16(&m, static_cast<uint16_t>(payload.size() + 4));  // XLEN
  m.push_back(si1);
  m.push_back(si2);
  coding::PutFixed16(&m, static_cast<uint16_t>(payload.size()));  // LEN
  m.append(payload);
  m.append(reinterpret_cast<const char*>(kEmptyDeflate), 2);
  coding::PutFixed32(&m, 0);  // CRC32 of nothing
  coding::PutFixed32(&m, 0);  // ISIZE
  return m;
}

Result<std::string_view> ParseExtraMember(std::string_view b, char si1, char si2,
                                          size_t* member_size) {
  auto u = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (b.size() < ExtraMemberSize(0)) return Status::Corruption("short extra member");
  uint8_t want[kHeaderSize];
  std::memcpy(want, kPlainHeader, kHeaderSize);
  want[3] = kFlagExtra;
  if (std::memcmp(b.data(), want, kHeaderSize) != 0) {
    return Status::Corruption("not a Starlight extra member (gzip header differs)");
  }
  size_t xlen = coding::DecodeFixed16(reinterpret_cast<const uint8_t*>(b.data() + 10));
  if (xlen < 4 || b.size() < ExtraMemberSize(xlen - 4)) {
    return Status::Corruption("extra member truncated");
  }
  if (b[12] != si1 || b[13] != si2) return Status::Corruption("unexpected extra subfield id");
  size_t len = coding::DecodeFixed16(reinterpret_cast<const uint8_t*>(b.data() + 14));
  if (len + 4 != xlen) return Status::Corruption("extra subfield length mismatch");
  size_t body = 12 + xlen;
  if (u(body) != kEmptyDeflate[0] || u(body + 1) != kEmptyDeflate[1] ||
      coding::DecodeFixed32(reinterpret_cast<const uint8_t*>(b.data() + body + 2)) != 0 ||
      coding::DecodeFixed32(reinterpret_cast<const uint8_t*>(b.data() + body + 6)) != 0) {
    return Status::Corruption("extra member is not empty");
  }
  *member_size = body + 2 + kTrailerSize;
  return b.substr(16, len);
}

// ---- GzipDecoder ----

struct GzipDecoder::Impl {
  io::ByteSource* in;
  MemberObserver observer;
  z_stream z{};
  bool z_init = false;
  std::string inbuf;
  bool in_eof = false;
  bool in_member = false;  // a member has been started and not finished
  bool done = false;
  uint64_t consumed = 0;     // compressed bytes consumed by zlib overall
  uint64_t produced = 0;     // decompressed bytes produced overall
  uint64_t members = 0;
  MemberInfo cur;

  ~Impl() {
    if (z_init) inflateEnd(&z);
  }

  // Makes at least one input byte available unless at EOF.
  Status Fill() {
    if (z.avail_in > 0 || in_eof) return Status::Ok();
    inbuf.resize(1 << 17);
    SL_ASSIGN_OR_RETURN(size_t n, in->Read(inbuf.data(), inbuf.size()));
    if (n == 0) in_eof = true;
    z.next_in = reinterpret_cast<Bytef*>(inbuf.data());
    z.avail_in = static_cast<uInt>(n);
    return Status::Ok();
  }
};

GzipDecoder::GzipDecoder(io::ByteSource* in, MemberObserver observer)
    : impl_(std::make_unique<Impl>()) {
  impl_->in = in;
  impl_->observer = std::move(observer);
}

GzipDecoder::~GzipDecoder() = default;

uint64_t GzipDecoder::compressed_offset() const { return impl_->consumed; }
uint64_t GzipDecoder::members() const { return impl_->members; }

Result<size_t> GzipDecoder::Read(char* buf, size_t n) {
  Impl& s = *impl_;
  if (s.done || n == 0) return size_t{0};
  size_t out = 0;
  while (out == 0) {
    SL_RETURN_IF_ERROR(s.Fill());
    if (!s.in_member) {
      if (s.z.avail_in == 0 && s.in_eof) {
        if (s.members == 0) return Status::Corruption("empty gzip stream");
        s.done = true;
        return size_t{0};
      }
      // A new member must start here; anything else is trailing garbage.
      if (static_cast<uint8_t>(s.z.next_in[0]) != 0x1f) {
        return Status::Corruption("data after the last gzip member at compressed offset " +
                                  std::to_string(s.consumed) + " (not a gzip header)");
      }
      if (!s.z_init) {
        if (inflateInit2(&s.z, 16 + 15) != Z_OK) return Status::Internal("inflateInit2 failed");
        s.z_init = true;
      } else {
        inflateReset(&s.z);
      }
      s.in_member = true;
      s.cur = MemberInfo{};
      s.cur.compressed_offset = s.consumed;
      s.cur.uncompressed_offset = s.produced;
    }
    if (s.z.avail_in == 0 && s.in_eof) {
      return Status::Corruption("truncated gzip stream: member at compressed offset " +
                                std::to_string(s.cur.compressed_offset) +
                                " ends early (at offset " + std::to_string(s.consumed) + ")");
    }
    uInt in_before = s.z.avail_in;
    s.z.next_out = reinterpret_cast<Bytef*>(buf + out);
    s.z.avail_out = static_cast<uInt>(std::min<size_t>(n - out, 1u << 30));
    uInt out_before = s.z.avail_out;
    int rc = inflate(&s.z, Z_NO_FLUSH);
    s.consumed += in_before - s.z.avail_in;
    size_t got = out_before - s.z.avail_out;
    out += got;
    s.produced += got;
    if (rc == Z_STREAM_END) {
      s.in_member = false;
      ++s.members;
      s.cur.compressed_size = s.consumed - s.cur.compressed_offset;
      s.cur.uncompressed_size = s.produced - s.cur.uncompressed_offset;
      if (s.observer) s.observer(s.cur);
      if (out > 0) return out;
      continue;
    }
    if (rc == Z_BUF_ERROR && s.z.avail_in == 0) continue;  // needs more input
    if (rc != Z_OK) {
      std::string why = s.z.msg ? s.z.msg : "inflate error " + std::to_string(rc);
      return Status::Corruption("corrupt gzip member at compressed offset " +
                                std::to_string(s.cur.compressed_offset) + ": " + why);
    }
  }
  return out;
}

}  // namespace starlight::gzip
