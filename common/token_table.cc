// Token digests and bearer headers (see token_table.h).
#include "common/token_table.h"

#include "common/tls.h"

namespace skiff::common {

std::string tokenDigest(std::string_view token) { return tls::sha256Hex(token); }

std::optional<std::string_view> bearerToken(std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || !authorization.starts_with(kBearer)) {
    return std::nullopt;
  }
  return authorization.substr(kBearer.size());
}

}  // namespace skiff::common
