#include "core/coding/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace starlight::coding {
namespace {

TEST(CodingTest, FixedRoundTripLittleEndian) {
  std::string s;
  PutFixed16(&s, 0x1234);
  PutFixed32(&s, 0x89abcdef);
  PutFixed64(&s, 0x0102030405060708ull);
  ASSERT_EQ(s.size(), 14u);
  EXPECT_EQ(s.substr(0, 2), std::string("\x34\x12", 2));
  EXPECT_EQ(s.substr(2, 4), std::string("\xef\xcd\xab\x89", 4));
  EXPECT_EQ(s.substr(6, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  Decoder d(s);
  uint16_t a;
  uint32_t b;
  uint64_t c;
  ASSERT_TRUE(d.GetFixed16(&a) && d.GetFixed32(&b) && d.GetFixed64(&c));
  EXPECT_EQ(a, 0x1234);
  EXPECT_EQ(b, 0x89abcdefu);
  EXPECT_EQ(c, 0x0102030405060708ull);
  EXPECT_TRUE(d.empty());
  uint8_t e;
  EXPECT_FALSE(d.GetFixed8(&e));

  uint8_t buf[8];
  EncodeFixed64(buf, UINT64_MAX - 1);
  EXPECT_EQ(DecodeFixed64(buf), UINT64_MAX - 1);
  EncodeFixed32(buf, 0xdeadbeef);
  EXPECT_EQ(DecodeFixed32(buf), 0xdeadbeefu);
  EncodeFixed16(buf, 0xbeef);
  EXPECT_EQ(DecodeFixed16(buf), 0xbeef);
}

TEST(CodingTest, FixedTruncated) {
  for (size_t n = 0; n < 8; ++n) {
    std::string s(n, 'x');
    Decoder d(s);
    uint64_t v;
    EXPECT_FALSE(d.GetFixed64(&v)) << n;
    EXPECT_EQ(d.remaining(), n) << "a failed read must not consume";
  }
  Decoder d(std::string_view("abc"));
  uint32_t v;
  EXPECT_FALSE(d.GetFixed32(&v));
}

std::vector<uint64_t> InterestingValues() {
  std::vector<uint64_t> v = {0, 1, 127, 128, 255, 256, 16383, 16384, UINT32_MAX,
                             uint64_t{UINT32_MAX} + 1, UINT64_MAX - 1, UINT64_MAX};
  for (int shift = 0; shift < 64; ++shift) {
    v.push_back(uint64_t{1} << shift);
    v.push_back((uint64_t{1} << shift) - 1);
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000; ++i) v.push_back(rng() >> (rng() % 64));
  return v;
}

TEST(CodingTest, VarintRoundTrip) {
  std::string s;
  const auto values = InterestingValues();
  for (uint64_t x : values) PutVarint64(&s, x);
  Decoder d(s);
  for (uint64_t x : values) {
    uint64_t y = 0;
    ASSERT_TRUE(d.GetVarint64(&y)) << x;
    EXPECT_EQ(y, x);
  }
  EXPECT_TRUE(d.empty());
}

TEST(CodingTest, VarintLengths) {
  auto len = [](uint64_t v) {
    std::string s;
    PutVarint64(&s, v);
    return s.size();
  };
  EXPECT_EQ(len(0), 1u);
  EXPECT_EQ(len(127), 1u);
  EXPECT_EQ(len(128), 2u);
  EXPECT_EQ(len(16383), 2u);
  EXPECT_EQ(len(16384), 3u);
  EXPECT_EQ(len(UINT64_MAX), 10u);
  std::string s;
  PutVarint64(&s, 300);
  EXPECT_EQ(s, std::string("\xac\x02", 2));
}

TEST(CodingTest, VarintEveryTruncationFails) {
  for (uint64_t x : {uint64_t{128}, uint64_t{1} << 35, UINT64_MAX}) {
    std::string s;
    PutVarint64(&s, x);
    for (size_t n = 0; n < s.size(); ++n) {
      Decoder d(std::string_view(s).substr(0, n));
      uint64_t v;
      EXPECT_FALSE(d.GetVarint64(&v)) << x << " cut at " << n;
    }
  }
}

TEST(CodingTest, VarintOverlongFails) {
  uint64_t v;
  // 11 continuation bytes: longer than any 64-bit varint.
  std::string eleven(10, '\x80');
  eleven.push_back('\x01');
  EXPECT_FALSE(Decoder(eleven).GetVarint64(&v));
  // 10 bytes whose last byte carries more than the 64th bit.
  std::string ten(9, '\xff');
  ten.push_back('\x02');
  EXPECT_FALSE(Decoder(ten).GetVarint64(&v));
  // ... while the same length with exactly 64 bits is UINT64_MAX.
  std::string max(9, '\xff');
  max.push_back('\x01');
  ASSERT_TRUE(Decoder(max).GetVarint64(&v));
  EXPECT_EQ(v, UINT64_MAX);
  // A run of continuation bytes without an end.
  EXPECT_FALSE(Decoder(std::string(20, '\x80')).GetVarint64(&v));
}

TEST(CodingTest, Varint32RejectsLargeValues) {
  std::string s;
  PutVarint64(&s, UINT32_MAX);
  PutVarint64(&s, uint64_t{UINT32_MAX} + 1);
  Decoder d(s);
  uint32_t v;
  ASSERT_TRUE(d.GetVarint32(&v));
  EXPECT_EQ(v, UINT32_MAX);
  EXPECT_FALSE(d.GetVarint32(&v));
}

TEST(CodingTest, ZigzagRoundTrip) {
  std::vector<int64_t> values = {0, 1, -1, 63, -64, 64, -65, INT32_MAX, INT32_MIN,
                                 std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min()};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500; ++i) values.push_back(static_cast<int64_t>(rng()) >> (rng() % 64));
  std::string s;
  for (int64_t x : values) PutVarsint64(&s, x);
  Decoder d(s);
  for (int64_t x : values) {
    int64_t y;
    ASSERT_TRUE(d.GetVarsint64(&y));
    EXPECT_EQ(y, x);
  }
  // Small magnitudes stay short.
  std::string m;
  PutVarsint64(&m, -1);
  EXPECT_EQ(m.size(), 1u);
}

TEST(CodingTest, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "");
  PutLengthPrefixed(&s, std::string("a\0b", 3));
  PutLengthPrefixed(&s, std::string(300, 'z'));
  Decoder d(s);
  std::string_view v;
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, "");
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, std::string_view("a\0b", 3));
  ASSERT_TRUE(d.GetLengthPrefixed(&v));
  EXPECT_EQ(v, std::string(300, 'z'));
  EXPECT_TRUE(d.empty());

  // Every truncation of a length-prefixed string fails.
  std::string one;
  PutLengthPrefixed(&one, std::string(200, 'q'));
  for (size_t n = 0; n < one.size(); ++n) {
    Decoder t(std::string_view(one).substr(0, n));
    EXPECT_FALSE(t.GetLengthPrefixed(&v)) << n;
  }
  // A length that points past the end (huge varint).
  std::string huge;
  PutVarint64(&huge, UINT64_MAX);
  huge += "abc";
  EXPECT_FALSE(Decoder(huge).GetLengthPrefixed(&v));
}

TEST(CodingTest, GetBytesAndConsumed) {
  std::string s = "hello world";
  Decoder d(s);
  std::string_view v;
  ASSERT_TRUE(d.GetBytes(5, &v));
  EXPECT_EQ(v, "hello");
  EXPECT_EQ(d.consumed(s), 5u);
  EXPECT_EQ(d.remaining(), 6u);
  EXPECT_FALSE(d.GetBytes(7, &v));
  EXPECT_EQ(d.remaining(), 6u);
  ASSERT_TRUE(d.GetBytes(6, &v));
  EXPECT_TRUE(d.empty());
}

}  // namespace
}  // namespace starlight::coding
