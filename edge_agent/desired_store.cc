// Desired-document gate and persistence (see desired_store.h).
#include "edge_agent/desired_store.h"

#include <cstdio>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/tls.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
using common::Json;

namespace {

std::string canonicalHash(const protocol::DesiredState& d) {
  return common::tls::sha256Hex(common::dumpJson(protocol::toJson(d)));
}

// Best effort: the version a refused payload claims, for the report (0 if unreadable).
std::int64_t claimedVersion(std::string_view payload) {
  auto j = common::parseJson(payload, protocol::kMaxPayloadBytes);
  if (!j.isOk() || !j->is_object()) return 0;
  auto it = j->find("version");
  if (it == j->end() || !it->is_number_integer()) return 0;
  return it->get<std::int64_t>();
}

// The schema a payload claims (0 if unreadable).
std::int64_t claimedSchema(std::string_view payload) {
  auto j = common::parseJson(payload, protocol::kMaxPayloadBytes);
  if (!j.isOk() || !j->is_object()) return 0;
  auto it = j->find("schema");
  if (it == j->end() || !it->is_number_integer()) return 0;
  return it->get<std::int64_t>();
}

DesiredDecision refuse(std::int64_t version, std::string reason, std::string message) {
  DesiredDecision d;
  d.kind = DesiredDecision::Kind::kRefused;
  d.error.version = version;
  d.error.reason = std::move(reason);
  d.error.message = std::move(message);
  return d;
}

}  // namespace

DesiredStore::DesiredStore(std::string stateDir, std::string deviceId, std::string hubPublicKeyPem)
    : dir_(std::move(stateDir)),
      deviceId_(std::move(deviceId)),
      hubKey_(std::move(hubPublicKeyPem)) {}

void DesiredStore::quarantine(const std::string& path, const std::string& why) {
  std::string aside = path + ".corrupt";
  std::rename(path.c_str(), aside.c_str());
  common::log::error("state file is corrupt and will not be used",
                     {{"file", path}, {"movedTo", aside}, {"error", why}});
}

std::optional<protocol::DesiredState> DesiredStore::load() {
  std::lock_guard lock(mu_);
  loadError_.clear();
  // The high-water mark first: it protects against replays even if desired.json is lost.
  if (auto v = common::readFile(versionPath()); v.isOk()) {
    auto j = common::parseJson(*v, 4096);
    bool good = j.isOk() && j->is_object() && j->contains("version") &&
                (*j)["version"].is_number_integer() && j->contains("sha256") &&
                (*j)["sha256"].is_string();
    if (good) {
      floorVersion_ = (*j)["version"].get<std::int64_t>();
      floorHash_ = (*j)["sha256"].get<std::string>();
    } else {
      quarantine(versionPath(), "unreadable version record");
    }
  }
  auto text = common::readFile(documentPath());
  if (!text.isOk()) {
    if (text.status().code() != common::StatusCode::kNotFound) {
      loadError_ = text.status().toString();
    }
    return std::nullopt;
  }
  auto doc = protocol::verifyDesired(*text, hubKey_);
  if (!doc.isOk()) {
    loadError_ = "persisted desired state is corrupt: " + doc.status().toString();
    quarantine(documentPath(), doc.status().toString());
    return std::nullopt;
  }
  if (doc->deviceId != deviceId_) {
    loadError_ = "persisted desired state is for device " + doc->deviceId;
    quarantine(documentPath(), loadError_);
    return std::nullopt;
  }
  if (doc->version < floorVersion_) {
    // An older copy than one we accepted (e.g. restored from a backup): never go back.
    loadError_ = "persisted desired state version " + std::to_string(doc->version) +
                 " is older than the accepted version " + std::to_string(floorVersion_);
    quarantine(documentPath(), loadError_);
    return std::nullopt;
  }
  floorVersion_ = doc->version;
  floorHash_ = canonicalHash(*doc);
  documentOnDisk_ = true;
  return std::move(doc).value();
}

DesiredDecision DesiredStore::offer(std::string_view payload) {
  std::lock_guard lock(mu_);
  auto remember = [this](DesiredDecision d) {
    if (d.kind == DesiredDecision::Kind::kRefused) {
      lastError_ = d.error;
    } else {
      lastError_.reset();
    }
    return d;
  };
  auto doc = protocol::verifyDesired(payload, hubKey_);
  if (!doc.isOk()) {
    bool forged = doc.status().code() == common::StatusCode::kUnauthenticated;
    if (!forged && claimedSchema(payload) > protocol::kDesiredSchema) {
      // Signed by the hub, but newer than this agent: nothing of it is run (running part of a
      // document could start a pod without what makes it safe).
      return remember(refuse(claimedVersion(payload), "UnsupportedSchema",
                             "desired state schema " + std::to_string(claimedSchema(payload)) +
                                 " is newer than this agent understands (1-" +
                                 std::to_string(protocol::kDesiredSchema) +
                                 "); upgrade skiff-agent on this device"));
    }
    return remember(refuse(claimedVersion(payload), forged ? "SignatureInvalid" : "Malformed",
                           doc.status().message()));
  }
  if (doc->deviceId != deviceId_) {
    return remember(
        refuse(doc->version, "WrongDevice",
               "document is for device \"" + doc->deviceId + "\", this is \"" + deviceId_ + "\""));
  }
  std::string hash = canonicalHash(*doc);
  if (doc->version < floorVersion_ || (doc->version == floorVersion_ && hash != floorHash_)) {
    return remember(
        refuse(doc->version, "StaleVersion",
               "version " + std::to_string(doc->version) +
                   (doc->version == floorVersion_ ? " differs from the accepted "
                                                    "document of the same version"
                                                  : " is older than the accepted "
                                                    "version " +
                                                        std::to_string(floorVersion_))));
  }
  DesiredDecision d;
  d.document = std::move(doc).value();
  if (d.document.version == floorVersion_ && documentOnDisk_) {
    d.kind = DesiredDecision::Kind::kUnchanged;
    return remember(std::move(d));
  }
  // Persist before acting: after a crash the agent resumes from exactly this document. (A repeat
  // of the accepted version is written again when the copy on disk was lost or corrupt.)
  Json record = {{"version", d.document.version}, {"sha256", hash}};
  if (auto s = common::writeFileAtomic(documentPath(), payload, 0600); !s.isOk()) {
    return remember(refuse(d.document.version, "Internal", "cannot persist: " + s.toString()));
  }
  if (auto s = common::writeFileAtomic(versionPath(), common::dumpJson(record) + "\n", 0600);
      !s.isOk()) {
    return remember(refuse(d.document.version, "Internal", "cannot persist: " + s.toString()));
  }
  floorVersion_ = d.document.version;
  floorHash_ = hash;
  documentOnDisk_ = true;
  d.kind = DesiredDecision::Kind::kAccepted;
  return remember(std::move(d));
}

std::int64_t DesiredStore::appliedVersion() const {
  std::lock_guard lock(mu_);
  return floorVersion_;
}

std::optional<protocol::DesiredError> DesiredStore::lastError() const {
  std::lock_guard lock(mu_);
  return lastError_;
}

std::string DesiredStore::loadError() const {
  std::lock_guard lock(mu_);
  return loadError_;
}

}  // namespace skiff::edge_agent
