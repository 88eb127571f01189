// Operator authentication (docs/hub-api.md "Authentication and roles"): bearer tokens from
// <data-dir>/tokens.csv, one `token,name,role` per line with role admin or reader. Tokens are
// kept only as SHA-256 digests in memory (common/token_table.h). Immutable after loading;
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/token_table.h"

namespace skiff::hub {

enum class Role { kReader, kAdmin };
std::string_view roleName(Role r);

struct Principal {
  std::string name;
  Role role = Role::kReader;
};

class TokenAuthenticator {
 public:
  static common::Result<TokenAuthenticator> fromFile(const std::string& path);
  // InvalidArgument naming the line for malformed lines, unknown roles or duplicate tokens.
  static common::Result<TokenAuthenticator> parse(std::string_view text);
  // From an HTTP `Authorization` header / gRPC `authorization` metadata value
  // ("Bearer <token>"). Unauthenticated when missing, malformed or unknown.
  common::Result<Principal> authenticate(std::string_view authorization) const;
  // PermissionDenied unless p may write.
  static common::Status requireAdmin(const Principal& p, std::string_view action);
  std::size_t size() const { return tokens_.size(); }

 private:
  common::TokenTable<Principal> tokens_;
};

// The token of the first line whose role is `role` (init and tests read their own file).
common::Result<std::string> firstTokenWithRole(std::string_view text, Role role);

}  // namespace skiff::hub
