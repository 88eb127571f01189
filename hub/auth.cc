// tokens.csv parsing and bearer authentication.
#include "hub/auth.h"

#include <sstream>

#include "common/fs.h"

namespace skiff::hub {

std::string_view roleName(Role r) { return r == Role::kAdmin ? "admin" : "reader"; }

namespace {

struct Line {
  std::string token, name, role;
};

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

common::Result<std::optional<Line>> parseLine(const std::string& raw, int lineNo) {
  std::string line = trim(raw);
  if (line.empty() || line[0] == '#') return std::optional<Line>();
  std::vector<std::string> f;
  std::stringstream ss(line);
  std::string part;
  while (std::getline(ss, part, ',')) f.push_back(trim(part));
  if (f.size() != 3 || f[0].empty() || f[1].empty()) {
    return common::invalidArgument("tokens file line " + std::to_string(lineNo) +
                                   ": want token,name,role");
  }
  if (f[2] != "admin" && f[2] != "reader") {
    return common::invalidArgument("tokens file line " + std::to_string(lineNo) + ": role \"" +
                                   f[2] + "\" is not admin or reader");
  }
  if (f[0].size() < 16) {
    return common::invalidArgument("tokens file line " + std::to_string(lineNo) +
                                   ": token shorter than 16 characters");
  }
  return std::optional<Line>(Line{f[0], f[1], f[2]});
}

}  // namespace

common::Result<TokenAuthenticator> TokenAuthenticator::parse(std::string_view text) {
  TokenAuthenticator a;
  std::istringstream in{std::string(text)};
  std::string raw;
  int lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    SKIFF_ASSIGN_OR_RETURN(auto line, parseLine(raw, lineNo));
    if (!line) continue;
    if (a.tokens_.contains(line->token)) {
      return common::invalidArgument("tokens file line " + std::to_string(lineNo) +
                                     ": duplicate token");
    }
    a.tokens_.put(line->token,
                  Principal{line->name, line->role == "admin" ? Role::kAdmin : Role::kReader});
  }
  if (a.tokens_.size() == 0) return common::invalidArgument("tokens file: no tokens");
  return a;
}

common::Result<TokenAuthenticator> TokenAuthenticator::fromFile(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, common::readFile(path));
  auto a = parse(text);
  if (!a.isOk()) return a.status().withContext(path);
  return a;
}

common::Result<Principal> TokenAuthenticator::authenticate(std::string_view authorization) const {
  if (authorization.empty()) {
    return common::unauthenticated("missing bearer token (Authorization: Bearer <token>)");
  }
  auto token = common::bearerToken(authorization);
  if (!token) {
    return common::unauthenticated("malformed Authorization header: want \"Bearer <token>\"");
  }
  const Principal* p = tokens_.find(*token);
  if (p == nullptr) return common::unauthenticated("unknown bearer token");
  return *p;
}

common::Status TokenAuthenticator::requireAdmin(const Principal& p, std::string_view action) {
  if (p.role == Role::kAdmin) return common::Status::ok();
  return common::permissionDenied("\"" + p.name + "\" has the reader role and may not " +
                                  std::string(action));
}

common::Result<std::string> firstTokenWithRole(std::string_view text, Role role) {
  std::istringstream in{std::string(text)};
  std::string raw;
  int lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    SKIFF_ASSIGN_OR_RETURN(auto line, parseLine(raw, lineNo));
    if (line && line->role == roleName(role)) return line->token;
  }
  return common::notFound("no " + std::string(roleName(role)) + " token");
}

}  // namespace skiff::hub
