// Kubeconfig loading over yaml-cpp; yaml-cpp exceptions are caught here and become Status values.
#include "virtual_node/kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "common/base64.h"
#include "common/fs.h"

namespace skiff::virtual_node::kube {

using common::Result;
using common::Status;

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status fail(const std::string& field, const std::string& message) const {
    return common::invalidArgument("kubeconfig " + source_ + ": " + field + ": " + message);
  }

  // A scalar string field of a map; "" when absent.
  Result<std::string> str(const YAML::Node& map, const std::string& key,
                          const std::string& path) const {
    YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return std::string();
    if (!n.IsScalar()) return fail(path + "." + key, "expected a string");
    return n.as<std::string>();
  }

  Result<bool> boolean(const YAML::Node& map, const std::string& key,
                       const std::string& path) const {
    YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return fail(path + "." + key, "expected true or false");
    }
    return v;
  }

  // The entry of a named list (clusters/users/contexts) with the given name and its path.
  Result<std::pair<YAML::Node, std::string>> named(const YAML::Node& root, const std::string& list,
                                                   const std::string& name,
                                                   const std::string& inner) const {
    YAML::Node items = root[list];
    if (!items.IsDefined() || items.IsNull()) return fail(list, "required");
    if (!items.IsSequence()) return fail(list, "expected a list");
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string path = list + "[" + std::to_string(i) + "]";
      if (!items[i].IsMap()) return fail(path, "expected a map");
      SKIFF_ASSIGN_OR_RETURN(std::string n, str(items[i], "name", path));
      if (n != name) continue;
      YAML::Node body = items[i][inner];
      if (!body.IsDefined() || !body.IsMap()) return fail(path + "." + inner, "expected a map");
      return std::make_pair(body, path + "." + inner);
    }
    return fail(list, "no entry named \"" + name + "\"");
  }

  // Inline base64 data or a file reference (relative to dir); "" when neither is given.
  Result<std::string> dataOrFile(const YAML::Node& map, const std::string& fileKey,
                                 const std::string& path, const std::string& dir) const {
    SKIFF_ASSIGN_OR_RETURN(std::string data, str(map, fileKey + "-data", path));
    SKIFF_ASSIGN_OR_RETURN(std::string file, str(map, fileKey, path));
    if (!data.empty() && !file.empty()) {
      return fail(path, fileKey + " and " + fileKey + "-data are mutually exclusive");
    }
    if (!data.empty()) {
      // kubectl tolerates line breaks inside the base64 text.
      std::string compact;
      for (char c : data) {
        if (c != '\n' && c != '\r' && c != ' ') compact += c;
      }
      auto decoded = common::base64Decode(compact);
      if (!decoded.isOk()) return fail(path + "." + fileKey + "-data", decoded.status().message());
      return std::move(*decoded);
    }
    if (!file.empty()) {
      std::filesystem::path p(file);
      if (p.is_relative()) p = std::filesystem::path(dir) / p;
      auto content = common::readFile(p.string());
      if (!content.isOk()) {
        return fail(path + "." + fileKey,
                    "cannot read " + p.string() + ": " + content.status().message());
      }
      return std::move(*content);
    }
    return std::string();
  }

 private:
  std::string source_;
};

std::string trimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<KubeConfig> parse(const YAML::Node& root, const std::string& dir, const Reader& r,
                         const std::string& contextOverride) {
  if (!root.IsMap()) return r.fail("(document)", "expected a map");
  KubeConfig cfg;
  SKIFF_ASSIGN_OR_RETURN(std::string current, r.str(root, "current-context", ""));
  cfg.contextName = contextOverride.empty() ? current : contextOverride;
  if (cfg.contextName.empty()) {
    return r.fail("current-context", "required (or pass a context name)");
  }
  SKIFF_ASSIGN_OR_RETURN(auto ctx, r.named(root, "contexts", cfg.contextName, "context"));
  SKIFF_ASSIGN_OR_RETURN(std::string clusterName, r.str(ctx.first, "cluster", ctx.second));
  SKIFF_ASSIGN_OR_RETURN(cfg.userName, r.str(ctx.first, "user", ctx.second));
  SKIFF_ASSIGN_OR_RETURN(std::string ns, r.str(ctx.first, "namespace", ctx.second));
  if (!ns.empty()) cfg.ns = ns;
  if (clusterName.empty()) return r.fail(ctx.second + ".cluster", "required");

  SKIFF_ASSIGN_OR_RETURN(auto cluster, r.named(root, "clusters", clusterName, "cluster"));
  const std::string& cp = cluster.second;
  SKIFF_ASSIGN_OR_RETURN(cfg.server, r.str(cluster.first, "server", cp));
  if (cfg.server.empty()) return r.fail(cp + ".server", "required");
  if (!cfg.server.starts_with("https://") && !cfg.server.starts_with("http://")) {
    return r.fail(cp + ".server", "must be an https:// URL, got \"" + cfg.server + "\"");
  }
  while (cfg.server.ends_with("/")) cfg.server.pop_back();
  SKIFF_ASSIGN_OR_RETURN(cfg.caPem, r.dataOrFile(cluster.first, "certificate-authority", cp, dir));
  SKIFF_ASSIGN_OR_RETURN(cfg.insecureSkipTlsVerify,
                         r.boolean(cluster.first, "insecure-skip-tls-verify", cp));
  SKIFF_ASSIGN_OR_RETURN(std::string serverName, r.str(cluster.first, "tls-server-name", cp));
  if (!serverName.empty()) return r.fail(cp + ".tls-server-name", "not supported");
  if (cfg.insecureSkipTlsVerify && !cfg.caPem.empty()) {
    return r.fail(cp, "certificate-authority and insecure-skip-tls-verify are mutually exclusive");
  }

  if (!cfg.userName.empty()) {
    SKIFF_ASSIGN_OR_RETURN(auto user, r.named(root, "users", cfg.userName, "user"));
    const std::string& up = user.second;
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if (user.first[unsupported].IsDefined()) {
        return r.fail(up + "." + unsupported,
                      "not supported (use token, tokenFile or client certificates)");
      }
    }
    SKIFF_ASSIGN_OR_RETURN(cfg.token, r.str(user.first, "token", up));
    SKIFF_ASSIGN_OR_RETURN(std::string tokenFile, r.str(user.first, "tokenFile", up));
    if (!tokenFile.empty()) {
      if (!cfg.token.empty()) return r.fail(up, "token and tokenFile are mutually exclusive");
      std::filesystem::path p(tokenFile);
      if (p.is_relative()) p = std::filesystem::path(dir) / p;
      auto t = common::readFile(p.string());
      if (!t.isOk()) {
        return r.fail(up + ".tokenFile", "cannot read " + p.string() + ": " + t.status().message());
      }
      cfg.token = trimNewlines(std::move(*t));
      if (cfg.token.empty()) return r.fail(up + ".tokenFile", p.string() + " is empty");
    }
    SKIFF_ASSIGN_OR_RETURN(cfg.clientCertPem,
                           r.dataOrFile(user.first, "client-certificate", up, dir));
    SKIFF_ASSIGN_OR_RETURN(cfg.clientKeyPem, r.dataOrFile(user.first, "client-key", up, dir));
    if (!cfg.clientCertPem.empty() && cfg.clientKeyPem.empty()) {
      return r.fail(up + ".client-key", "required with client-certificate");
    }
    if (cfg.clientCertPem.empty() && !cfg.clientKeyPem.empty()) {
      return r.fail(up + ".client-certificate", "required with client-key");
    }
  }
  return cfg;
}

}  // namespace

Result<KubeConfig> parseKubeConfig(std::string_view text, const std::string& dir,
                                   const std::string& source, const std::string& context) {
  Reader r(source);
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return parse(root, dir, r, context);
  } catch (const YAML::Exception& e) {
    return common::invalidArgument("kubeconfig " + source + ": line " +
                                   std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return common::invalidArgument("kubeconfig " + source + ": " + e.what());
  }
}

Result<KubeConfig> loadKubeConfig(const std::string& path, const std::string& context) {
  auto text = common::readFile(path);
  if (!text.isOk()) return text.status().withContext("kubeconfig " + path);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return parseKubeConfig(*text, dir, path, context);
}

}  // namespace skiff::virtual_node::kube
