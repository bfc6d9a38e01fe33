// Secrets: random tokens, their SHA-256 digests, and constant-time comparison.
//
// Vigil stores only the SHA-256 of API and admin tokens. A presented token is hashed and the
// digests compared with CRYPTO_memcmp, so neither the stored form nor the comparison time leaks it.
#pragma once

#include <string>
#include <string_view>

namespace vigil {

// `prefix` followed by `random_bytes` bytes of OS randomness in lowercase hex.
std::string RandomToken(std::string_view prefix, size_t random_bytes);
// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace vigil
