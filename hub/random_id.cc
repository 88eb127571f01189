// CSPRNG-backed alphanumeric strings.
#include "hub/random_id.h"

#include <openssl/rand.h>

#include <vector>

namespace skiff::hub {

std::string randomAlnum(std::size_t length) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  out.reserve(length);
  std::vector<unsigned char> raw(length * 2);
  while (out.size() < length) {
    RAND_bytes(raw.data(), static_cast<int>(raw.size()));
    for (unsigned char b : raw) {
      if (b >= 248) continue;  // 248 = 4 * 62: no modulo bias
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == length) break;
    }
  }
  return out;
}

}  // namespace skiff::hub
