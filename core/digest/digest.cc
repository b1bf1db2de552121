#include "core/digest/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace starlight::digest {

namespace {
constexpr char kHex[] = "0123456789abcdef";
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::string Digest::Hex() const {
  std::string s(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    s[2 * i] = kHex[bytes[i] >> 4];
    s[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return s;
}

Result<Digest> Digest::Parse(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.substr(0, kPrefix.size()) != kPrefix) {
    return Status::InvalidArgument("unsupported digest (want sha256:<hex>): " + std::string(s));
  }
  s.remove_prefix(kPrefix.size());
  if (s.size() != 64) return Status::InvalidArgument("bad sha256 digest length");
  Digest d;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(s[2 * i]), lo = HexValue(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("bad hex in sha256 digest");
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

Digest Digest::FromRaw(std::string_view raw) {
  Digest d;
  for (size_t i = 0; i < 32 && i < raw.size(); ++i) d.bytes[i] = static_cast<uint8_t>(raw[i]);
  return d;
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) {
    std::abort();  // out of memory or a broken OpenSSL: an invariant, not input
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::Update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(impl_->ctx, data, n);
}

Digest Sha256::Finish() {
  Digest d;
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, d.bytes.data(), &len);
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  return d;
}

Digest Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

}  // namespace starlight::digest
