// Bearer tokens as the control plane's API server and the hub's APIs check them: a table from a
// token's SHA-256 digest to the identity it stands for, so the tokens themselves are never kept
// in memory after loading (a core dump or a heap read shows digests only). Each component keeps
// its own file format (kube-apiserver's token file, the hub's tokens.csv) and identity type; the
// mechanism is this one. Immutable once loaded; reads are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::common {

// The hex SHA-256 digest a token is kept as.
std::string tokenDigest(std::string_view token);

// The token of an `Authorization: Bearer <token>` value; nullopt for any other form (an empty
// value, another scheme, an empty token).
std::optional<std::string_view> bearerToken(std::string_view authorization);

template <typename Identity>
class TokenTable {
 public:
  bool contains(std::string_view token) const { return byDigest_.contains(tokenDigest(token)); }
  // Adds the token, replacing the identity of one already there.
  void put(std::string_view token, Identity identity) {
    byDigest_.insert_or_assign(tokenDigest(token), std::move(identity));
  }
  // The identity of token, or nullptr.
  const Identity* find(std::string_view token) const {
    auto it = byDigest_.find(tokenDigest(token));
    return it == byDigest_.end() ? nullptr : &it->second;
  }
  std::size_t size() const { return byDigest_.size(); }

 private:
  std::map<std::string, Identity, std::less<>> byDigest_;
};

}  // namespace skiff::common
