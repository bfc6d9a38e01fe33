// OpenSSL-backed implementations of the secret helpers.
#include "common/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/status.h"

namespace vigil {

namespace {
std::string Hex(const unsigned char* data, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xF]);
  }
  return out;
}
}  // namespace

std::string RandomToken(std::string_view prefix, size_t random_bytes) {
  unsigned char buf[64];
  VIGIL_CHECK(random_bytes <= sizeof(buf));
  VIGIL_CHECK(RAND_bytes(buf, static_cast<int>(random_bytes)) == 1);
  return std::string(prefix) + Hex(buf, random_bytes);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  VIGIL_CHECK(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1);
  return Hex(digest, len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace vigil
