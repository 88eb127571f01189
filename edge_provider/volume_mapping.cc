// Pod volumes and the containers' mounts (see mapper.h).
#include <set>

#include "common/quantity.h"
#include "edge_provider/mapper.h"

namespace skiff::edge_provider::detail {

using common::jsonField;
using common::jsonString;
using common::Result;
using common::Status;

Status Mapper::filesFrom(bool secret, const Json& src, const std::string& name, int defaultMode,
                         const std::string& path, std::vector<protocol::FileItem>& files) {
  SKIFF_ASSIGN_OR_RETURN(const Json* obj, object(secret, name, path));
  bool optional = truthy(src, "optional");
  if (obj == nullptr) {
    if (optional) return Status::ok();
    return common::notFound(path + ": " + std::string(secret ? "secret" : "configmap") + " \"" +
                            name + "\" not found");
  }
  const Json& items = jsonField(src, "items");
  if (items.is_array() && !items.empty()) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string ip = idx(path + ".items", i);
      std::string key = jsonString(items[i], "key");
      SKIFF_ASSIGN_OR_RETURN(auto value, keyOf(secret, name, key, optional, ip));
      if (!value) continue;
      int mode = defaultMode;
      if (jsonField(items[i], "mode").is_number_integer()) mode = items[i]["mode"].get<int>();
      files.push_back({jsonString(items[i], "path"), std::move(*value), mode});
    }
    return Status::ok();
  }
  std::set<std::string> keys;
  for (const char* field : {"data", "binaryData"}) {
    if (secret && std::string_view(field) == "binaryData") continue;
    if (jsonField(*obj, field).is_object()) {
      for (const auto& [k, v] : jsonField(*obj, field).items()) keys.insert(k);
    }
  }
  for (const auto& k : keys) {
    SKIFF_ASSIGN_OR_RETURN(auto value, keyOf(secret, name, k, false, path));
    files.push_back({k, value.value_or(""), defaultMode});
  }
  return Status::ok();
}

Result<std::optional<protocol::Volume>> Mapper::volume(const Json& v, const std::string& path) {
  protocol::Volume vol;
  vol.name = jsonString(v, "name");
  auto modeOf = [&](const Json& src, const std::string& p) -> Result<int> {
    const Json& m = jsonField(src, "defaultMode");
    if (m.is_null()) return 0644;
    if (!m.is_number_integer() || m.get<long long>() < 0 || m.get<long long>() > 0777) {
      return fail(p + ".defaultMode", "must be between 0 and 0777 (octal)");
    }
    return m.get<int>();
  };
  if (jsonField(v, "configMap").is_object() || jsonField(v, "secret").is_object()) {
    bool secret = jsonField(v, "secret").is_object();
    const Json& src = secret ? jsonField(v, "secret") : jsonField(v, "configMap");
    std::string sp = path + (secret ? ".secret" : ".configMap");
    std::string name = secret ? jsonString(src, "secretName") : jsonString(src, "name");
    if (name.empty()) return fail(sp + (secret ? ".secretName" : ".name"), "required");
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(src, sp));
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_RETURN_IF_ERROR(filesFrom(secret, src, name, mode, sp, vol.files));
  } else if (jsonField(v, "emptyDir").is_object()) {
    const Json& e = jsonField(v, "emptyDir");
    vol.kind = protocol::Volume::Kind::kEmptyDir;
    std::string medium = jsonString(e, "medium");
    if (medium == "Memory") {
      vol.medium = "Memory";
    } else if (!medium.empty()) {
      return fail(path + ".emptyDir.medium",
                  "unsupported medium \"" + medium + "\" on devices (\"\" or Memory)");
    }
    if (!jsonField(e, "sizeLimit").is_null()) {
      SKIFF_ASSIGN_OR_RETURN(std::string q,
                             quantityText(jsonField(e, "sizeLimit"), path + ".emptyDir.sizeLimit"));
      auto bytes = common::parseQuantity(q);
      if (!bytes.isOk()) return fail(path + ".emptyDir.sizeLimit", bytes.status().message());
      if (*bytes < 0) return fail(path + ".emptyDir.sizeLimit", "must not be negative");
      vol.sizeLimitBytes = *bytes;
    }
  } else if (jsonField(v, "hostPath").is_object()) {
    vol.kind = protocol::Volume::Kind::kHostPath;
    vol.hostPath = jsonString(jsonField(v, "hostPath"), "path");
    if (vol.hostPath.empty() || vol.hostPath.front() != '/') {
      return fail(path + ".hostPath.path", "must be an absolute path");
    }
  } else if (jsonField(v, "projected").is_object()) {
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(jsonField(v, "projected"), path + ".projected"));
    const Json& sources = jsonField(jsonField(v, "projected"), "sources");
    for (std::size_t i = 0; sources.is_array() && i < sources.size(); ++i) {
      const Json& s = sources[i];
      std::string sp = idx(path + ".projected.sources", i);
      if (jsonField(s, "configMap").is_object()) {
        SKIFF_RETURN_IF_ERROR(filesFrom(false, jsonField(s, "configMap"),
                                        jsonString(jsonField(s, "configMap"), "name"), mode,
                                        sp + ".configMap", vol.files));
      } else if (jsonField(s, "secret").is_object()) {
        SKIFF_RETURN_IF_ERROR(filesFrom(true, jsonField(s, "secret"),
                                        jsonString(jsonField(s, "secret"), "name"), mode,
                                        sp + ".secret", vol.files));
      } else {
        warn(path, "projected volume \"" + vol.name +
                       "\" has serviceAccountToken, downwardAPI or clusterTrustBundle sources, "
                       "which devices cannot receive; the volume is not mounted");
        return std::optional<protocol::Volume>();
      }
    }
  } else if (jsonField(v, "downwardAPI").is_object()) {
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(jsonField(v, "downwardAPI"), path + ".downwardAPI"));
    const Json& items = jsonField(jsonField(v, "downwardAPI"), "items");
    for (std::size_t i = 0; items.is_array() && i < items.size(); ++i) {
      std::string ip = idx(path + ".downwardAPI.items", i);
      const Json& it = items[i];
      std::string content;
      if (jsonField(it, "fieldRef").is_object()) {
        std::string fp = jsonString(jsonField(it, "fieldRef"), "fieldPath");
        const Json& meta = jsonField(pod_, "metadata");
        if (fp == "metadata.labels" || fp == "metadata.annotations") {
          const Json& map = jsonField(meta, fp == "metadata.labels" ? "labels" : "annotations");
          for (const auto& [k, val] : objectOrEmpty(map).items()) {
            content +=
                k + "=\"" + (val.is_string() ? val.template get<std::string>() : "") + "\"\n";
          }
        } else {
          SKIFF_ASSIGN_OR_RETURN(content, fieldRef(jsonField(it, "fieldRef"), ip + ".fieldRef"));
        }
      } else if (jsonField(it, "resourceFieldRef").is_object()) {
        const Json& ref = jsonField(it, "resourceFieldRef");
        const Json* c = nullptr;
        for (const auto& other : jsonField(jsonField(pod_, "spec"), "containers")) {
          if (jsonString(other, "name") == jsonString(ref, "containerName")) c = &other;
        }
        if (c == nullptr) return fail(ip + ".resourceFieldRef.containerName", "required");
        SKIFF_ASSIGN_OR_RETURN(auto value, resourceRef(ref, *c, ip + ".resourceFieldRef"));
        content = value.value_or("");
      } else {
        return fail(ip, "one of fieldRef or resourceFieldRef is required");
      }
      int m = mode;
      if (jsonField(it, "mode").is_number_integer()) m = it["mode"].get<int>();
      vol.files.push_back({jsonString(it, "path"), content, m});
    }
  } else {
    std::string type = "unknown";
    for (const auto& [k, val] : v.items()) {
      if (k != "name") type = k;
    }
    warn(path, type + " volume \"" + vol.name +
                   "\" is not supported on devices (supported: configMap, secret, emptyDir, "
                   "hostPath, projected configMap/secret, downwardAPI); the volume is not mounted");
    return std::optional<protocol::Volume>();
  }
  return std::optional<protocol::Volume>(std::move(vol));
}

Status Mapper::volumes(protocol::PodSpec& p) {
  const Json& podVolumes = jsonField(jsonField(pod_, "spec"), "volumes");
  std::set<std::string> names;
  for (std::size_t k = 0; podVolumes.is_array() && k < podVolumes.size(); ++k) {
    std::string path = idx("spec.volumes", k);
    std::string name = jsonString(podVolumes[k], "name");
    if (name.empty()) return fail(path + ".name", "Required value");
    if (!names.insert(name).second)
      return fail(path + ".name", "Duplicate value: \"" + name + "\"");
    SKIFF_ASSIGN_OR_RETURN(auto vol, volume(podVolumes[k], path));
    if (!vol) {
      skippedVolumes_.insert(name);
      continue;
    }
    podVolumes_.insert(name);
    p.volumes.push_back(std::move(*vol));
  }
  return Status::ok();
}

Status Mapper::mounts(const Json& c, const std::string& path, protocol::ContainerSpec& m) {
  const Json& mounts = jsonField(c, "volumeMounts");
  for (std::size_t i = 0; mounts.is_array() && i < mounts.size(); ++i) {
    const Json& mt = mounts[i];
    std::string mp = idx(path + ".volumeMounts", i);
    std::string name = jsonString(mt, "name");
    if (skippedVolumes_.contains(name)) continue;  // unsupported volume: warned once
    if (!podVolumes_.contains(name)) return fail(mp + ".name", "no volume named \"" + name + "\"");
    if (!jsonString(mt, "subPathExpr").empty()) {
      warn(mp + ".subPathExpr", "not supported; the volume is mounted without it");
    }
    if (!jsonString(mt, "mountPropagation").empty() &&
        jsonString(mt, "mountPropagation") != "None") {
      warn(mp + ".mountPropagation", "not supported on devices");
    }
    m.mounts.push_back(
        {name, jsonString(mt, "mountPath"), truthy(mt, "readOnly"), jsonString(mt, "subPath")});
  }
  return Status::ok();
}

}  // namespace skiff::edge_provider::detail
