// Deployment ids for pods.
#include "edge_provider/deployment_id.h"

#include <openssl/evp.h>

#include <cctype>

namespace skiff::edge_provider {

std::string deploymentIdFor(std::string_view ns, std::string_view name, std::string_view uid) {
  std::string key = std::string(ns) + "/" + std::string(name) + "/" + std::string(uid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(key.data(), key.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 5; ++i) {
    suffix += kHex[digest[i] >> 4];
    suffix += kHex[digest[i] & 0xf];
  }
  std::string base = std::string(ns) + "." + std::string(name);
  for (char& c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  }
  constexpr std::size_t kMax = 63;
  if (base.size() > kMax - 1 - suffix.size()) base.resize(kMax - 1 - suffix.size());
  return base + "-" + suffix;
}

}  // namespace skiff::edge_provider
