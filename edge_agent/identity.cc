// identity.json reading/writing (see identity.h).
#include "edge_agent/identity.h"

#include "common/fs.h"
#include "common/json.h"
#include "common/protocol/protocol.h"

namespace skiff::edge_agent {

using common::Json;
using common::Result;
using common::Status;

Result<Identity> loadIdentity(const IdentityFiles& files) {
  auto text = common::readFile(files.identity());
  if (!text.isOk()) {
    if (text.status().code() == common::StatusCode::kNotFound) {
      return common::notFound("this device is not enrolled (" + files.identity() +
                              " is missing): run `skiff-agent enroll --hub https://<hub> --token "
                              "<token> --state-dir " +
                              files.dir + "` first");
    }
    return text.status();
  }
  auto j = common::parseJson(*text, 64 * 1024);
  if (!j.isOk()) return j.status().withContext(files.identity());
  if (!j->is_object()) return common::invalidArgument(files.identity() + ": not a JSON object");
  common::JsonFields f(*j, "identity");
  Identity id;
  auto get = [&](std::string_view key, std::string& out) -> Status {
    auto v = f.requireString(key);
    if (!v.isOk()) return v.status().withContext(files.identity());
    out = *v;
    return Status::ok();
  };
  SKIFF_RETURN_IF_ERROR(get("deviceId", id.deviceId));
  SKIFF_RETURN_IF_ERROR(get("mqttUrl", id.mqttUrl));
  SKIFF_RETURN_IF_ERROR(get("renewUrl", id.renewUrl));
  SKIFF_RETURN_IF_ERROR(get("hubUrl", id.hubUrl));
  SKIFF_RETURN_IF_ERROR(get("enrolledAt", id.enrolledAt));
  if (auto s = common::protocol::validateDeviceId(id.deviceId); !s.isOk()) {
    return s.withContext(files.identity() + ": identity.deviceId");
  }
  if (!id.mqttUrl.starts_with("mqtts://") && !id.mqttUrl.starts_with("mqtt://")) {
    return common::invalidArgument(files.identity() +
                                   ": identity.mqttUrl: must start with mqtts:// or mqtt://");
  }
  auto key = common::readFile(files.hubSigningKey());
  if (!key.isOk()) return key.status().withContext("hub signing key");
  id.hubSigningKeyPem = *key;
  for (const std::string& path : {files.key(), files.cert(), files.ca()}) {
    auto r = common::readFile(path);
    if (!r.isOk()) return r.status().withContext("identity file");
  }
  return id;
}

Status saveIdentity(const IdentityFiles& files, const Identity& id) {
  Json j = {{"schema", 1},           {"deviceId", id.deviceId},
            {"mqttUrl", id.mqttUrl}, {"renewUrl", id.renewUrl},
            {"hubUrl", id.hubUrl},   {"enrolledAt", id.enrolledAt}};
  return common::writeFileAtomic(files.identity(), j.dump(2) + "\n", 0600);
}

}  // namespace skiff::edge_agent
