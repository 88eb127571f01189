// Module spec → container configuration and volume files (see container_spec.h).
#include "edge_agent/container_spec.h"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include "common/fs.h"
#include "common/log.h"
#include "edge_agent/engine/docker_engine.h"

namespace skiff::edge_agent {

namespace fs = std::filesystem;
namespace protocol = common::protocol;
using common::Result;
using common::Status;

namespace {

std::string escape(std::string_view module) {
  std::string out(module);
  for (char& c : out) {
    if (c == '/') c = '_';
  }
  return out;
}

std::string hashDir(std::string_view specHash) {
  return std::string(specHash.substr(0, std::min<std::size_t>(16, specHash.size())));
}

// Joins a volume directory with a validated relative path (no '..', see protocol.h).
std::string join(const std::string& dir, const std::string& rel) {
  return rel.empty() ? dir : dir + "/" + rel;
}

}  // namespace

std::string containerName(std::string_view module, std::string_view specHash) {
  return "skiff-" + escape(module) + "-" +
         std::string(specHash.substr(0, std::min<std::size_t>(12, specHash.size())));
}

std::string moduleDir(std::string_view stateDir, std::string_view module) {
  return std::string(stateDir) + "/modules/" + escape(module);
}

Result<engine::ContainerConfig> prepareContainer(const protocol::ModuleSpec& spec,
                                                 std::string_view specHash,
                                                 std::string_view agentId,
                                                 std::string_view stateDir) {
  engine::ContainerConfig c;
  c.name = containerName(spec.name, specHash);
  c.image = spec.image;
  c.entrypoint = spec.command;
  c.cmd = spec.args;
  for (const auto& e : spec.env) c.env.push_back(e.name + "=" + e.value);
  c.workingDir = spec.workingDir;
  c.labels = {{std::string(kLabelManagedBy), "skiff-agent"},
              {std::string(kLabelAgent), std::string(agentId)},
              {std::string(kLabelModule), spec.name},
              {std::string(kLabelDeployment), spec.deploymentId},
              {std::string(kLabelSpecHash), std::string(specHash)},
              {std::string(kLabelStopTimeout), std::to_string(spec.stopTimeoutSeconds)}};
  for (const auto& p : spec.ports) {
    engine::PortBinding b;
    b.containerPort = p.containerPort;
    b.protocol = p.protocol == "UDP" ? "udp" : "tcp";
    b.hostPort = p.hostPort;
    b.hostIp = p.hostIp;
    c.ports.push_back(b);
  }
  c.memoryBytes = spec.resources.memoryBytes;
  c.nanoCpus = spec.resources.cpuMillis * 1000000;
  c.privileged = spec.privileged;
  c.stopTimeoutSeconds = spec.stopTimeoutSeconds;

  const std::string base = moduleDir(stateDir, spec.name) + "/" + hashDir(specHash);
  std::map<std::string, const protocol::Volume*> volumes;
  for (const auto& v : spec.volumes) volumes[v.name] = &v;
  std::map<std::string, std::string> volumeDirs;  // files / emptyDir
  for (const auto& v : spec.volumes) {
    if (v.kind == protocol::Volume::Kind::kHostPath) continue;
    std::string dir = base + "/" + v.name;
    std::error_code ec;
    if (v.kind == protocol::Volume::Kind::kFiles) {
      // Rewritten from the spec every time: the directory mirrors exactly the shipped files.
      fs::remove_all(dir, ec);
    }
    SKIFF_RETURN_IF_ERROR(common::makeDirs(base, 0700));
    SKIFF_RETURN_IF_ERROR(common::makeDirs(dir, 0755));
    for (const auto& f : v.files) {
      std::string path = join(dir, f.path);
      auto parent = fs::path(path).parent_path().string();
      SKIFF_RETURN_IF_ERROR(common::makeDirs(parent, 0755));
      SKIFF_RETURN_IF_ERROR(
          common::writeFileAtomic(path, f.content, static_cast<unsigned>(f.mode) & 07777));
      // writeFileAtomic's mode is filtered by the umask; the spec's mode is what the module gets.
      ::chmod(path.c_str(), static_cast<mode_t>(f.mode) & 07777);
    }
    volumeDirs[v.name] = dir;
  }
  for (const auto& m : spec.mounts) {
    auto it = volumes.find(m.volume);
    if (it == volumes.end()) {
      return common::invalidArgument("module " + spec.name + ": mount " + m.mountPath +
                                     " names unknown volume \"" + m.volume + "\"");
    }
    const protocol::Volume& v = *it->second;
    if (v.kind == protocol::Volume::Kind::kHostPath) {
      std::string source = join(v.hostPath, m.subPath);
      struct stat st {};
      if (::stat(source.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
        c.devices.push_back({source, m.mountPath});
        continue;
      }
      c.mounts.push_back({source, m.mountPath, m.readOnly});
      continue;
    }
    std::string source = join(volumeDirs[v.name], m.subPath);
    c.mounts.push_back({source, m.mountPath, m.readOnly});
  }
  return c;
}

void removeModuleFiles(std::string_view stateDir, std::string_view module,
                       std::string_view keepHash) {
  const std::string dir = moduleDir(stateDir, module);
  std::error_code ec;
  if (keepHash.empty()) {
    fs::remove_all(dir, ec);
  } else {
    const std::string keep = hashDir(keepHash);
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      if (it->path().filename() != keep) {
        std::error_code rmEc;
        fs::remove_all(it->path(), rmEc);
      }
    }
  }
}

std::optional<engine::RegistryAuth> credentialFor(
    std::string_view image, const std::vector<protocol::RegistryCredential>& creds) {
  auto ref = engine::parseImageRef(image);
  if (!ref.isOk()) return std::nullopt;
  for (const auto& c : creds) {
    if (engine::credentialMatches(c.server, ref->registry)) {
      return engine::RegistryAuth{c.server, c.username, c.password};
    }
  }
  return std::nullopt;
}

}  // namespace skiff::edge_agent
