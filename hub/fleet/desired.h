// Per-device desired state as a pure function of the deployments that match the device
// (docs/hub.md "Desired computation"): the union of their pods where, for one pod name, the
// higher priority wins, then the newer deployment, then the smaller id; the registry credentials
// of the deployments that contribute pods, deduplicated by server the same way.
//
// Each deployment is compiled once per apply (its pods' spec hashes computed), so composing one
// device's state costs a merge of small sorted vectors and one SHA-256 over a few dozen bytes per
// pod: that is what lets 10,000 devices re-evaluate in milliseconds. Immutable values shared
// between threads through shared_ptr<const ...>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/label_selector.h"
#include "common/protocol/protocol.h"
#include "hub/model.h"

namespace skiff::hub::fleet {

struct CompiledDeployment {
  DeploymentRecord record;
  common::LabelSelector selector;
  std::vector<std::string> specHashes;        // per pod, common::protocol::specHash
  std::vector<common::Json> podJson;          // per pod, common::protocol::toJson
  std::vector<std::string> credentialHashes;  // per credential (server, username, password)

  const std::string& id() const { return record.spec.id; }
};
using DeploymentPtr = std::shared_ptr<const CompiledDeployment>;

// Parses the selector and hashes the pods. InvalidArgument for a bad stored selector.
common::Result<DeploymentPtr> compileDeployment(DeploymentRecord record);

// True if a wins over b for the same pod name or registry server.
bool outranks(const CompiledDeployment& a, const CompiledDeployment& b);

struct DesiredContent {
  struct Item {
    DeploymentPtr deployment;
    std::size_t index = 0;  // pod or credential index in the deployment
  };
  std::vector<Item> pods;         // sorted by pod name
  std::vector<Item> credentials;  // sorted by server
  std::string hash;               // hex SHA-256 identifying pods + credentials

  // The winning item for a pod name, or nullptr.
  const Item* podNamed(std::string_view name) const;
};

// Composes the content for a device matched by `matching` (any order).
DesiredContent composeDesired(const std::vector<DeploymentPtr>& matching);

// The document for the wire (without signature).
common::protocol::DesiredState toDesiredState(const DesiredContent& content,
                                              const std::string& deviceId, std::int64_t version,
                                              const std::string& issuedAt);
// The same as JSON (common::protocol::toJson of it), built from the deployments' cached pod
// JSON: what the reconciler signs for every changed device.
common::Json toDesiredJson(const DesiredContent& content, const std::string& deviceId,
                           std::int64_t version, const std::string& issuedAt);

}  // namespace skiff::hub::fleet
