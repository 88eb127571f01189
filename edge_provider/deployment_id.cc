// Deployment ids for pods.
#include "edge_provider/deployment_id.h"

#include <cctype>

#include "common/tls.h"

namespace skiff::edge_provider {

std::string deploymentIdFor(std::string_view ns, std::string_view name, std::string_view uid) {
  std::string key = std::string(ns) + "/" + std::string(name) + "/" + std::string(uid);
  std::string suffix = common::tls::sha256Hex(key).substr(0, 10);
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
