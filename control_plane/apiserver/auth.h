// Authentication (bearer tokens from a token file, TLS client certificates) and authorization
// with three roles: admin (system:masters), node (system:node:<name> in system:nodes: its own
// Node and Lease, pods bound to it, events) and read-only (get/list/watch everything except
// Secrets' data is still readable as in Kubernetes' "view" role minus secrets).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/http/server.h"
#include "common/json.h"
#include "common/status.h"
#include "common/token_table.h"

namespace skiff::control_plane::apiserver {

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  bool inGroup(std::string_view g) const;
};

// Token file format (like kube-apiserver's --token-auth-file): CSV lines
// `token,user,uid,"group1,group2"`; blank lines and lines starting with # are ignored; a token
// given twice takes the later line's user, as kube-apiserver does. Tokens are kept as digests
// (common/token_table.h).
class TokenAuthenticator {
 public:
  static common::Result<TokenAuthenticator> fromFile(const std::string& path);
  static common::Result<TokenAuthenticator> parse(std::string_view text);
  void add(std::string token, UserInfo user);
  std::optional<UserInfo> authenticate(std::string_view token) const;

 private:
  common::TokenTable<UserInfo> tokens_;
};

// Identifies the caller: a bearer token (Authorization header) or a verified client
// certificate (CN = user, O = groups). Unauthenticated when neither is valid.
common::Result<UserInfo> authenticate(const common::http::Request& req,
                                      const TokenAuthenticator* tokens);

struct Attributes {
  std::string verb;  // get, list, watch, create, update, patch, delete, deletecollection
  std::string group;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
};

// The role authorize() applies to user: "admin", "node", "read-only", or "" (everything denied).
std::string roleOf(const UserInfo& user);

// True if user may perform the request. For the node role, `object` (the stored object, when
// known) lets the check see spec.nodeName of pods.
bool authorize(const UserInfo& user, const Attributes& a, const common::Json* object);

}  // namespace skiff::control_plane::apiserver
