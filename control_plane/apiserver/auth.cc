// Token/certificate authentication and role-based authorization.
#include "control_plane/apiserver/auth.h"

#include <algorithm>
#include <sstream>

#include "common/fs.h"

namespace skiff::control_plane::apiserver {

bool UserInfo::inGroup(std::string_view g) const {
  return std::find(groups.begin(), groups.end(), g) != groups.end();
}

namespace {
// Splits one CSV line, honouring double quotes (kube-apiserver's token file format).
std::vector<std::string> splitCsv(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}
}  // namespace

common::Result<TokenAuthenticator> TokenAuthenticator::parse(std::string_view text) {
  TokenAuthenticator a;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = splitCsv(line);
    if (f.size() < 3 || f[0].empty() || f[1].empty()) {
      return common::invalidArgument("token file line " + std::to_string(lineNo) +
                                     ": want token,user,uid[,\"group1,group2\"]");
    }
    UserInfo u{f[1], {}};
    if (f.size() >= 4) {
      for (auto& g : splitCsv(f[3])) {
        if (!g.empty()) u.groups.push_back(g);
      }
    }
    a.add(f[0], std::move(u));
  }
  return a;
}

common::Result<TokenAuthenticator> TokenAuthenticator::fromFile(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, common::readFile(path));
  auto a = parse(text);
  if (!a.isOk()) return a.status().withContext(path);
  return a;
}

void TokenAuthenticator::add(std::string token, UserInfo user) {
  tokens_.put(token, std::move(user));
}

std::optional<UserInfo> TokenAuthenticator::authenticate(std::string_view token) const {
  const UserInfo* user = tokens_.find(token);
  if (user == nullptr) return std::nullopt;
  return *user;
}

common::Result<UserInfo> authenticate(const common::http::Request& req,
                                      const TokenAuthenticator* tokens) {
  std::string authz = req.header("authorization");
  if (!authz.empty()) {
    auto token = common::bearerToken(authz);
    if (token && tokens != nullptr) {
      if (auto u = tokens->authenticate(*token)) return *u;
    }
    return common::unauthenticated("invalid bearer token");
  }
  if (req.clientCommonName && !req.clientCommonName->empty()) {
    return UserInfo{*req.clientCommonName, req.clientOrganizations};
  }
  return common::unauthenticated("no credentials");
}

namespace {
bool isRead(const std::string& verb) { return verb == "get" || verb == "list" || verb == "watch"; }
}  // namespace

std::string roleOf(const UserInfo& user) {
  if (user.inGroup("system:masters")) return "admin";
  if (user.inGroup("system:nodes") && user.name.starts_with("system:node:")) return "node";
  if (user.inGroup("skiff:read-only") || user.inGroup("system:read-only")) return "read-only";
  return "";
}

bool authorize(const UserInfo& user, const Attributes& a, const common::Json* object) {
  const std::string role = roleOf(user);
  if (role == "admin") return true;
  if (role == "node") {
    std::string node = user.name.substr(12);
    if (a.group.empty() && a.resource == "nodes") {
      if (isRead(a.verb)) return true;
      return a.name == node || (a.verb == "create" && a.name.empty());
    }
    if (a.group == "coordination.k8s.io" && a.resource == "leases") {
      if (a.ns != "kube-node-lease") return false;
      return isRead(a.verb) || a.name == node || (a.verb == "create" && a.name.empty());
    }
    if (a.group.empty() && a.resource == "pods") {
      if (isRead(a.verb) && a.name.empty()) return true;
      std::string bound;
      if (object != nullptr && object->contains("spec") && (*object)["spec"].is_object()) {
        bound = common::jsonString(common::jsonField(*object, "spec"), "nodeName");
      }
      if (a.verb == "create") return a.name.empty();  // mirror/static pods: bound on create
      return bound == node;
    }
    if (a.group.empty() && a.resource == "events") {
      return a.verb == "create" || a.verb == "patch" || a.verb == "update" || isRead(a.verb);
    }
    if (a.group.empty() && (a.resource == "configmaps" || a.resource == "secrets" ||
                            a.resource == "services" || a.resource == "namespaces")) {
      return isRead(a.verb);
    }
    return false;
  }
  if (role == "read-only") {
    return isRead(a.verb) && !(a.group.empty() && a.resource == "secrets");
  }
  return false;
}

}  // namespace skiff::control_plane::apiserver
