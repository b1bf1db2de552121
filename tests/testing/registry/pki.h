// Test PKI for the registry fixture (internal to tests/testing/registry): P-256 keys, a CA and
// certificates for loopback servers, and the pieces of an ES256-signed JWT (JWS) as the
// docker-registry token verifier (libtrust) expects them. Thread-compatible; a key may sign from
// several threads at once.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status/status.h"

namespace starlight::testing::pki {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

Result<PkeyPtr> GenerateP256Key();

struct CertSpec {
  std::string common_name;
  bool is_ca = false;
  bool server_auth = false;      // adds extendedKeyUsage serverAuth
  std::vector<std::string> dns;  // subjectAltName DNS entries
  std::vector<std::string> ips;  // subjectAltName IP entries
  int days = 30;                 // valid from one hour ago for `days` days
};
// Issues a certificate for `subject_key`, signed by (issuer, issuer_key), or self-signed when
// issuer is null (then issuer_key must be subject_key).
Result<X509Ptr> MakeCert(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                         EVP_PKEY* issuer_key);

Status WriteKeyPem(const std::string& path, EVP_PKEY* key);  // PKCS#8
Status WriteCertPem(const std::string& path, X509* cert);
Result<std::string> CertDer(X509* cert);

// JWS ES256 signature of `data`: the 64-byte big-endian r||s (not DER).
Result<std::string> SignEs256(EVP_PKEY* key, std::string_view data);
// libtrust key id of the public key: base32 of the first 240 bits of sha256(DER SPKI), in 12
// groups of 4 characters joined by ':'.
Result<std::string> LibtrustKeyId(EVP_PKEY* key);

std::string Base64(std::string_view data);                // standard alphabet, padded
std::string Base64Url(std::string_view data);             // URL alphabet, unpadded (JWS)
Result<std::string> Base64Decode(std::string_view text);  // standard alphabet, padded
std::string RandomHex(size_t bytes);

}  // namespace starlight::testing::pki
