// SHA-256 digests: the content address of every blob, file and ToC in Starlight.
//
// Digest is a 32-byte value type printed as "sha256:<64 lowercase hex>" (the OCI form).
// Sha256 hashes incrementally (OpenSSL EVP, hardware-accelerated where the CPU allows);
// one instance per thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status/status.h"

namespace starlight::digest {

struct Digest {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const;
  std::string ToString() const { return "sha256:" + Hex(); }
  std::string_view Raw() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  bool operator==(const Digest&) const = default;
  auto operator<=>(const Digest&) const = default;

  // Parses "sha256:<64 hex>" (lowercase hex as OCI requires).
  static Result<Digest> Parse(std::string_view s);
  // REQUIRES: raw.size() == 32.
  static Digest FromRaw(std::string_view raw);
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Returns the digest and resets the hasher for reuse.
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Digest Sha256Of(std::string_view data);

}  // namespace starlight::digest
