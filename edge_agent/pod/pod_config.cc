// Pod spec → engine configuration and volumes (see pod_config.h).
#include "edge_agent/pod/pod_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/fs.h"
#include "common/log.h"
#include "common/tls.h"
#include "edge_agent/engine/docker_engine.h"

namespace skiff::edge_agent::pod {

namespace fs = std::filesystem;
namespace protocol = common::protocol;
using common::Json;
using common::Result;
using common::Status;

namespace {

std::string identityOf(const protocol::PodSpec& pod) {
  return common::tls::sha256Hex(pod.deploymentId).substr(0, 12);
}

std::string engineVolumeName(std::string_view agentId, std::string_view pod,
                             std::string_view identity, std::string_view volume) {
  return "skiff-" + std::string(agentId) + "-" + std::string(pod) + "-" + std::string(identity) +
         "-" + std::string(volume);
}

std::map<std::string, std::string> baseLabels(const protocol::PodSpec& pod,
                                              std::string_view agentId, std::string_view kind,
                                              std::string_view hash) {
  return {{std::string(kLabelManagedBy), "skiff-agent"},
          {std::string(kLabelAgent), std::string(agentId)},
          {std::string(kLabelPod), pod.name},
          {std::string(kLabelDeployment), pod.deploymentId},
          {std::string(kLabelKind), std::string(kind)},
          {std::string(kLabelSpecHash), std::string(hash)},
          {std::string(kLabelStopTimeout), std::to_string(pod.terminationGracePeriodSeconds)}};
}

// "<pod>_<container>" never collides: pod and container names contain no '_'.
std::string engineName(std::string_view pod, std::string_view member, std::string_view hash) {
  return "skiff-" + std::string(pod) + "_" + std::string(member) + "-" +
         std::string(hash.substr(0, std::min<std::size_t>(12, hash.size())));
}

bool isNumeric(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The kubelet's runAsNonRoot verification, with its messages.
Status verifyRunAsNonRoot(const protocol::PodSpec& pod, const protocol::ContainerSpec& c,
                          std::optional<std::int64_t> uid, const std::string& imageUser) {
  std::string where = "(pod: \"" + pod.name + "\", container: " + c.name + ")";
  if (uid) {
    if (*uid == 0)
      return common::invalidArgument("container's runAsUser breaks non-root policy " + where);
    return Status::ok();
  }
  std::string user = imageUser.substr(0, imageUser.find(':'));
  if (user.empty() || user == "root") {
    return common::invalidArgument("container has runAsNonRoot and image will run as root " +
                                   where);
  }
  if (!isNumeric(user)) {
    return common::invalidArgument("container has runAsNonRoot and image has non-numeric user (" +
                                   user + "), cannot verify user is non-root " + where);
  }
  if (std::stoll(user.substr(0, 12)) == 0) {
    return common::invalidArgument("container has runAsNonRoot and image will run as root " +
                                   where);
  }
  return Status::ok();
}

// Makes `dir` group-owned by fsGroup with the setgid bit, as the kubelet's SetVolumeOwnership.
void applyFsGroup(const std::string& dir, std::int64_t gid, bool recursive) {
  auto own = [gid](const fs::path& p, bool isDir) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    if (::lchown(p.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(gid)) != 0) {
      common::log::warn("cannot apply fsGroup",
                        {{"path", p.string()}, {"gid", gid}, {"error", std::strerror(errno)}});
      return;
    }
    mode_t mode = st.st_mode & 07777;
    mode |= isDir ? (S_ISGID | S_IRGRP | S_IXGRP) : S_IRGRP;
    if (st.st_mode & S_IWUSR) mode |= S_IWGRP;
    ::chmod(p.c_str(), mode);
  };
  own(dir, true);
  if (!recursive) return;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    own(it->path(), it->is_directory(ec));
  }
}

// Rewrites a `files` volume when its content hash changed (each file atomically; files the
// spec no longer has are removed).
Status writeFilesVolume(const protocol::Volume& v, const std::string& dir,
                        const std::string& marker, std::optional<std::int64_t> fsGroup) {
  std::string material;
  for (const auto& f : v.files) {
    material += f.path + '\0' + std::to_string(f.mode) + '\0' + common::tls::sha256Hex(f.content);
    material += '\n';
  }
  if (fsGroup) material += "fsGroup " + std::to_string(*fsGroup);
  std::string hash = common::tls::sha256Hex(material);
  auto old = common::readFile(marker);
  if (old.isOk() && *old == hash && fs::is_directory(dir)) return Status::ok();
  SKIFF_RETURN_IF_ERROR(common::makeDirs(dir, 0755));
  std::set<std::string> keep;
  for (const auto& f : v.files) {
    std::string path = dir + "/" + f.path;
    keep.insert(path);
    SKIFF_RETURN_IF_ERROR(common::makeDirs(fs::path(path).parent_path().string(), 0755));
    SKIFF_RETURN_IF_ERROR(
        common::writeFileAtomic(path, f.content, static_cast<unsigned>(f.mode) & 07777));
    // writeFileAtomic's mode is filtered by the umask; the spec's mode is what the pod gets.
    ::chmod(path.c_str(), static_cast<mode_t>(f.mode) & 07777);
  }
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !keep.contains(it->path().string())) stale.push_back(it->path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
  if (fsGroup) applyFsGroup(dir, *fsGroup, true);
  return common::writeFileAtomic(marker, hash, 0600);
}

Json volumeShape(const protocol::Volume& v) {
  Json j = {{"name", v.name}, {"kind", static_cast<int>(v.kind)}};
  if (!v.hostPath.empty()) j["hostPath"] = v.hostPath;
  if (!v.medium.empty()) j["medium"] = v.medium;
  if (v.sizeLimitBytes != 0) j["sizeLimitBytes"] = v.sizeLimitBytes;
  return j;
}

std::string uidPart(const std::string& imageUser) {
  return imageUser.substr(0, imageUser.find(':'));
}

}  // namespace

std::string podKeyOf(const engine::ContainerInfo& c) {
  if (auto it = c.labels.find(std::string(kLabelPod)); it != c.labels.end()) return it->second;
  if (auto it = c.labels.find(std::string(kLabelModule)); it != c.labels.end()) {
    return protocol::legacyPodName(it->second);
  }
  return "";
}

std::string sandboxHash(const protocol::PodSpec& pod) {
  Json ports = Json::array();
  for (const auto* list : {&pod.initContainers, &pod.containers}) {
    for (const auto& c : *list) {
      for (const auto& p : c.ports) {
        ports.push_back({p.containerPort, p.hostPort, p.protocol, p.hostIp});
      }
    }
  }
  Json volumes = Json::array();
  for (const auto& v : pod.volumes) volumes.push_back(volumeShape(v));
  Json inits = Json::array();
  for (const auto& c : pod.initContainers) inits.push_back(protocol::toJson(c));
  Json sysctls = Json::array();
  for (const auto& s : pod.securityContext.sysctls) sysctls.push_back({s.name, s.value});
  Json j = {{"deploymentId", pod.deploymentId},
            {"hostNetwork", pod.hostNetwork},
            {"hostPID", pod.hostPID},
            {"hostIPC", pod.hostIPC},
            {"shareProcessNamespace", pod.shareProcessNamespace},
            {"hostname", pod.hostname},
            {"sysctls", sysctls},
            {"ports", ports},
            {"volumes", volumes},
            {"initContainers", inits}};
  return common::tls::sha256Hex(common::dumpJson(j));
}

std::string containerHash(const protocol::PodSpec& pod, const protocol::ContainerSpec& c) {
  protocol::PodSecurityContext inherited = pod.securityContext;
  inherited.sysctls.clear();  // the sandbox's
  Json j = {{"container", protocol::toJson(c)}, {"pod", protocol::toJson(inherited)}};
  return common::tls::sha256Hex(common::dumpJson(j));
}

std::string_view kindLabel(protocol::ContainerKind kind) { return protocol::toString(kind); }

std::string podRoot(std::string_view stateDir, std::string_view pod) {
  return std::string(stateDir) + "/pods/" + std::string(pod);
}

std::string podVolumeRoot(std::string_view stateDir, const protocol::PodSpec& pod) {
  return podRoot(stateDir, pod.name) + "/" + identityOf(pod);
}

Result<PreparedVolumes> preparePodVolumes(const protocol::PodSpec& pod, std::string_view agentId,
                                          std::string_view stateDir,
                                          engine::EngineResources& resources) {
  PreparedVolumes out;
  const std::string root = podRoot(stateDir, pod.name);
  const std::string identity = identityOf(pod);
  const std::string base = root + "/" + identity;
  SKIFF_RETURN_IF_ERROR(common::makeDirs(root, 0700));
  // Directories of an earlier pod of the same name (another deployment id) go.
  std::error_code ec;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename() != identity) {
      std::error_code rm;
      fs::remove_all(it->path(), rm);
    }
  }
  SKIFF_RETURN_IF_ERROR(common::makeDirs(base, 0711));
  SKIFF_RETURN_IF_ERROR(common::makeDirs(base + "/.files", 0700));
  const auto fsGroup = pod.securityContext.fsGroup;
  for (const auto& v : pod.volumes) {
    const std::string dir = base + "/" + v.name;
    switch (v.kind) {
      case protocol::Volume::Kind::kHostPath:
        out.sources[v.name] = v.hostPath;
        break;
      case protocol::Volume::Kind::kFiles:
        SKIFF_RETURN_IF_ERROR(writeFilesVolume(v, dir, base + "/.files/" + v.name, fsGroup));
        out.sources[v.name] = dir;
        break;
      case protocol::Volume::Kind::kEmptyDir:
        if (v.medium == "Memory") {
          engine::VolumeConfig vc;
          vc.name = engineVolumeName(agentId, pod.name, identity, v.name);
          vc.labels = {{std::string(kLabelManagedBy), "skiff-agent"},
                       {std::string(kLabelAgent), std::string(agentId)},
                       {std::string(kLabelPod), pod.name}};
          vc.tmpfs = true;
          vc.sizeBytes = v.sizeLimitBytes;
          SKIFF_ASSIGN_OR_RETURN(engine::VolumeInfo info, resources.createVolume(vc));
          out.sources[v.name] = info.name;
          out.engineVolume[v.name] = true;
          if (v.sizeLimitBytes > 0 && !info.sizeApplied && !info.mountpoint.empty()) {
            out.limits[v.name] = {info.mountpoint, v.sizeLimitBytes};
          }
          break;
        }
        if (!fs::is_directory(dir)) {
          SKIFF_RETURN_IF_ERROR(common::makeDirs(dir, 0777));
          ::chmod(dir.c_str(), 0777);  // the kubelet's mode, whatever the umask
          if (fsGroup) applyFsGroup(dir, *fsGroup, false);
        }
        out.sources[v.name] = dir;
        if (v.sizeLimitBytes > 0) out.limits[v.name] = {dir, v.sizeLimitBytes};
        break;
    }
  }
  return out;
}

Status removePodVolumes(std::string_view pod, std::string_view agentId, std::string_view stateDir,
                        engine::EngineResources& resources) {
  SKIFF_ASSIGN_OR_RETURN(auto vols,
                         resources.listVolumes({{std::string(kLabelAgent), std::string(agentId)},
                                                {std::string(kLabelPod), std::string(pod)}}));
  for (const auto& v : vols) SKIFF_RETURN_IF_ERROR(resources.removeVolume(v));
  std::error_code ec;
  fs::remove_all(podRoot(stateDir, pod), ec);
  if (ec) return common::internalError("remove " + podRoot(stateDir, pod) + ": " + ec.message());
  return Status::ok();
}

engine::ContainerConfig infraConfig(const protocol::PodSpec& pod, std::string_view hash,
                                    std::string_view agentId, std::string_view podNetwork,
                                    const InfraImage& image) {
  engine::ContainerConfig c;
  c.name = engineName(pod.name, "infra", hash);
  c.image = image.reference;
  c.entrypoint = image.entrypoint;
  c.labels = baseLabels(pod, agentId, kKindInfra, hash);
  c.stopTimeoutSeconds = 2;  // it holds namespaces only; SIGTERM ends it at once
  c.networkMode = pod.hostNetwork ? "host" : std::string(podNetwork);
  c.ipcMode = pod.hostIPC ? "host" : "shareable";
  if (pod.hostPID) c.pidMode = "host";
  if (!pod.hostNetwork) c.hostname = pod.hostname.empty() ? pod.name.substr(0, 63) : pod.hostname;
  while (!c.hostname.empty() && !std::isalnum(static_cast<unsigned char>(c.hostname.back()))) {
    c.hostname.pop_back();
  }
  for (const auto& s : pod.securityContext.sysctls) c.sysctls[s.name] = s.value;
  for (const auto* list : {&pod.initContainers, &pod.containers}) {
    for (const auto& m : *list) {
      for (const auto& p : m.ports) {
        engine::PortBinding b;
        b.containerPort = p.containerPort;
        b.protocol = p.protocol == "UDP" ? "udp" : "tcp";
        b.hostPort = pod.hostNetwork ? 0 : p.hostPort;  // host networking: the ports are the host's
        b.hostIp = p.hostIp;
        c.ports.push_back(b);
      }
    }
  }
  c.noNewPrivileges = true;
  return c;
}

Result<engine::ContainerConfig> memberConfig(const protocol::PodSpec& pod,
                                             const protocol::ContainerSpec& spec,
                                             protocol::ContainerKind kind, std::string_view hash,
                                             std::string_view agentId, std::string_view infraId,
                                             const PreparedVolumes& volumes,
                                             const engine::ImageInfo& image) {
  const auto& psc = pod.securityContext;
  const auto& sc = spec.securityContext;
  engine::ContainerConfig c;
  c.name = engineName(pod.name, spec.name, hash);
  c.image = spec.image;
  c.entrypoint = spec.command;
  c.cmd = spec.args;
  for (const auto& e : spec.env) c.env.push_back(e.name + "=" + e.value);
  c.workingDir = spec.workingDir;
  c.labels = baseLabels(pod, agentId, kindLabel(kind), hash);
  c.labels[std::string(kLabelModule)] = protocol::moduleName(pod.name, spec.name);
  c.labels[std::string(kLabelSandboxId)] = std::string(infraId);
  c.memoryBytes = spec.resources.memoryBytes;
  c.nanoCpus = spec.resources.cpuMillis * 1000000;
  c.stopTimeoutSeconds = pod.terminationGracePeriodSeconds;
  c.networkMode = "container:" + std::string(infraId);
  c.ipcMode = "container:" + std::string(infraId);
  if (pod.hostPID) {
    c.pidMode = "host";
  } else if (pod.shareProcessNamespace) {
    c.pidMode = "container:" + std::string(infraId);
  }
  if (!pod.hostNetwork) c.hostname = pod.hostname.empty() ? pod.name.substr(0, 63) : pod.hostname;

  // Security context: the container's settings win over the pod's.
  auto uid = sc.runAsUser ? sc.runAsUser : psc.runAsUser;
  auto gid = sc.runAsGroup ? sc.runAsGroup : psc.runAsGroup;
  bool nonRoot = sc.runAsNonRoot.value_or(psc.runAsNonRoot.value_or(false));
  if (nonRoot) SKIFF_RETURN_IF_ERROR(verifyRunAsNonRoot(pod, spec, uid, image.user));
  if (uid) {
    c.user = std::to_string(*uid);
  } else if (gid) {
    std::string user = uidPart(image.user);
    c.user = user.empty() ? "0" : user;
  }
  if (gid) c.user += ":" + std::to_string(*gid);
  c.groupAdd = psc.supplementalGroups;
  if (psc.fsGroup) c.groupAdd.push_back(*psc.fsGroup);
  c.privileged = sc.privileged;
  c.capAdd = sc.capabilitiesAdd;
  c.capDrop = sc.capabilitiesDrop;
  c.readonlyRootfs = sc.readOnlyRootFilesystem;
  c.noNewPrivileges = sc.allowPrivilegeEscalation.has_value() && !*sc.allowPrivilegeEscalation;
  std::string seccomp = sc.seccompProfile.empty() ? psc.seccompProfile : sc.seccompProfile;
  c.seccompUnconfined = seccomp == "Unconfined";

  std::map<std::string, const protocol::Volume*> byName;
  for (const auto& v : pod.volumes) byName[v.name] = &v;
  for (const auto& m : spec.mounts) {
    auto it = byName.find(m.volume);
    auto src = volumes.sources.find(m.volume);
    if (it == byName.end() || src == volumes.sources.end()) {
      return common::invalidArgument("container " + spec.name + ": mount " + m.mountPath +
                                     " names unknown volume \"" + m.volume + "\"");
    }
    const protocol::Volume& v = *it->second;
    if (volumes.engineVolume.contains(m.volume)) {
      if (!m.subPath.empty()) {
        return common::invalidArgument("container " + spec.name +
                                       ": subPath is not supported "
                                       "on medium: Memory volumes (volume \"" +
                                       m.volume + "\")");
      }
      c.mounts.push_back({src->second, m.mountPath, m.readOnly, /*volume=*/true});
      continue;
    }
    std::string source = m.subPath.empty() ? src->second : src->second + "/" + m.subPath;
    if (v.kind == protocol::Volume::Kind::kHostPath) {
      struct stat st {};
      if (::stat(source.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
        c.devices.push_back({source, m.mountPath});
        continue;
      }
    } else if (v.kind == protocol::Volume::Kind::kEmptyDir && !m.subPath.empty()) {
      // As the kubelet: a subPath of an emptyDir is created when missing.
      SKIFF_RETURN_IF_ERROR(common::makeDirs(source, 0777));
    }
    c.mounts.push_back({source, m.mountPath, m.readOnly});
  }
  return c;
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

}  // namespace skiff::edge_agent::pod
