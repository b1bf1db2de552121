// Explicit little-endian fixed-width and LEB128 varint encoding, as LevelDB's coding.h.
//
// Encoders append to a std::string. Decoders read from a Slice-like cursor (`Decoder`) that
// never reads past its end: every Get* returns false on truncated or over-long input, so hostile
// bytes produce a clean error upstream. Stateless functions; Decoder is not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace starlight::coding {

void PutFixed16(std::string* dst, uint16_t v);
void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutVarint64(std::string* dst, uint64_t v);
// Signed values as zigzag varints (small magnitudes stay short).
void PutVarsint64(std::string* dst, int64_t v);
// Varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view bytes);

void EncodeFixed16(uint8_t* p, uint16_t v);
void EncodeFixed32(uint8_t* p, uint32_t v);
void EncodeFixed64(uint8_t* p, uint64_t v);
uint16_t DecodeFixed16(const uint8_t* p);
uint32_t DecodeFixed32(const uint8_t* p);
uint64_t DecodeFixed64(const uint8_t* p);

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool GetFixed8(uint8_t* v);
  bool GetFixed16(uint16_t* v);
  bool GetFixed32(uint32_t* v);
  bool GetFixed64(uint64_t* v);
  bool GetVarint64(uint64_t* v);
  bool GetVarint32(uint32_t* v);  // fails when the value does not fit
  bool GetVarsint64(int64_t* v);
  bool GetLengthPrefixed(std::string_view* v);
  bool GetBytes(size_t n, std::string_view* v);
  size_t remaining() const { return in_.size(); }
  size_t consumed(std::string_view whole) const { return whole.size() - in_.size(); }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// True if `s` is well-formed UTF-8 by the lead-byte structure (JSON views print such strings
// as they are and others base64-encoded).
bool IsValidUtf8(std::string_view s);

}  // namespace starlight::coding
