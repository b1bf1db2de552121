#include "core/coding/coding.h"

namespace starlight::coding {

void EncodeFixed16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void EncodeFixed32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void EncodeFixed64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t DecodeFixed16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t DecodeFixed32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t DecodeFixed64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void PutFixed16(std::string* dst, uint16_t v) {
  uint8_t b[2];
  EncodeFixed16(b, v);
  dst->append(reinterpret_cast<char*>(b), 2);
}
void PutFixed32(std::string* dst, uint32_t v) {
  uint8_t b[4];
  EncodeFixed32(b, v);
  dst->append(reinterpret_cast<char*>(b), 4);
}
void PutFixed64(std::string* dst, uint64_t v) {
  uint8_t b[8];
  EncodeFixed64(b, v);
  dst->append(reinterpret_cast<char*>(b), 8);
}
void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}
void PutVarsint64(std::string* dst, int64_t v) {
  PutVarint64(dst, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}
void PutLengthPrefixed(std::string* dst, std::string_view bytes) {
  PutVarint64(dst, bytes.size());
  dst->append(bytes);
}

bool Decoder::GetFixed8(uint8_t* v) {
  if (in_.size() < 1) return false;
  *v = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return true;
}
bool Decoder::GetFixed16(uint16_t* v) {
  if (in_.size() < 2) return false;
  *v = DecodeFixed16(reinterpret_cast<const uint8_t*>(in_.data()));
  in_.remove_prefix(2);
  return true;
}
bool Decoder::GetFixed32(uint32_t* v) {
  if (in_.size() < 4) return false;
  *v = DecodeFixed32(reinterpret_cast<const uint8_t*>(in_.data()));
  in_.remove_prefix(4);
  return true;
}
bool Decoder::GetFixed64(uint64_t* v) {
  if (in_.size() < 8) return false;
  *v = DecodeFixed64(reinterpret_cast<const uint8_t*>(in_.data()));
  in_.remove_prefix(8);
  return true;
}
bool Decoder::GetVarint64(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; i < 10 && static_cast<size_t>(i) < in_.size(); ++i, shift += 7) {
    uint64_t byte = static_cast<uint8_t>(in_[i]);
    if (i == 9 && byte > 1) return false;  // more than 64 bits
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      in_.remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}
bool Decoder::GetVarint32(uint32_t* v) {
  uint64_t w;
  if (!GetVarint64(&w) || w > UINT32_MAX) return false;
  *v = static_cast<uint32_t>(w);
  return true;
}
bool Decoder::GetVarsint64(int64_t* v) {
  uint64_t u;
  if (!GetVarint64(&u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}
bool Decoder::GetBytes(size_t n, std::string_view* v) {
  if (in_.size() < n) return false;
  *v = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}
bool Decoder::GetLengthPrefixed(std::string_view* v) {
  uint64_t n;
  if (!GetVarint64(&n) || n > in_.size()) return false;
  return GetBytes(static_cast<size_t>(n), v);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace starlight::coding
