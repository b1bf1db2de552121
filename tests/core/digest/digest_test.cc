#include "core/digest/digest.h"

#include <gtest/gtest.h>

#include <string>

namespace starlight::digest {
namespace {

constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(Sha256Of("abc").Hex(), kAbc);
  EXPECT_EQ(Sha256Of("").ToString(), std::string("sha256:") + kEmpty);
}

TEST(DigestTest, IncrementalEqualsOneShotAndResets) {
  Sha256 h;
  h.Update("a");
  h.Update(std::string("bc"));
  EXPECT_EQ(h.Finish().Hex(), kAbc);
  EXPECT_EQ(h.Finish().Hex(), kEmpty);  // reset after Finish
  std::string big(1 << 20, 'x');
  h.Update(big.data(), 1000);
  h.Update(big.data() + 1000, big.size() - 1000);
  EXPECT_EQ(h.Finish(), Sha256Of(big));
}

TEST(DigestTest, ParseRoundTripAndRejects) {
  auto d = Digest::Parse(std::string("sha256:") + kAbc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, Sha256Of("abc"));
  EXPECT_EQ(Digest::FromRaw(d->Raw()), *d);
  for (std::string bad : {std::string(kAbc), std::string("sha512:") + kAbc,
                          std::string("sha256:") + std::string(kAbc).substr(1),
                          std::string("sha256:") + kAbc + "0", std::string("sha256:") + "BA" +
                                                                   std::string(kAbc).substr(2),
                          std::string("sha256:") + "zz" + std::string(kAbc).substr(2), std::string()}) {
    EXPECT_FALSE(Digest::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace starlight::digest
