// Desired-state composition: priority merge of matching deployments and the content hash.
#include "hub/fleet/desired.h"

#include <algorithm>
#include <map>

#include "common/tls.h"

namespace skiff::hub::fleet {

namespace proto = common::protocol;

common::Result<DeploymentPtr> compileDeployment(DeploymentRecord record) {
  auto c = std::make_shared<CompiledDeployment>();
  auto sel = common::LabelSelector::parse(record.spec.targetSelector);
  if (!sel.isOk()) return sel.status().withContext("deployment " + record.spec.id);
  c->selector = std::move(*sel);
  for (const auto& p : record.spec.pods) {
    // specHash(p) is the SHA-256 of exactly this canonical JSON.
    c->podJson.push_back(proto::toJson(p));
    c->specHashes.push_back(common::tls::sha256Hex(common::dumpJson(c->podJson.back())));
  }
  for (const auto& cr : record.spec.registryCredentials) {
    std::string material = cr.server;
    material.push_back('\0');
    material += cr.username;
    material.push_back('\0');
    material += cr.password;
    c->credentialHashes.push_back(common::tls::sha256Hex(material));
  }
  c->record = std::move(record);
  return DeploymentPtr(std::move(c));
}

bool outranks(const CompiledDeployment& a, const CompiledDeployment& b) {
  if (a.record.spec.priority != b.record.spec.priority) {
    return a.record.spec.priority > b.record.spec.priority;
  }
  if (a.record.updatedAtMs != b.record.updatedAtMs) {
    return a.record.updatedAtMs > b.record.updatedAtMs;
  }
  return a.id() < b.id();
}

const DesiredContent::Item* DesiredContent::podNamed(std::string_view name) const {
  auto it =
      std::lower_bound(pods.begin(), pods.end(), name, [](const Item& item, std::string_view n) {
        return item.deployment->record.spec.pods[item.index].name < n;
      });
  if (it == pods.end() || it->deployment->record.spec.pods[it->index].name != name) {
    return nullptr;
  }
  return &*it;
}

DesiredContent composeDesired(const std::vector<DeploymentPtr>& matching) {
  DesiredContent out;
  std::map<std::string_view, DesiredContent::Item> pods;
  for (const auto& d : matching) {
    const auto& specs = d->record.spec.pods;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      auto [it, inserted] = pods.try_emplace(specs[i].name, DesiredContent::Item{d, i});
      if (!inserted && outranks(*d, *it->second.deployment)) it->second = {d, i};
    }
  }
  // Credentials of the deployments that contribute at least one pod.
  std::vector<const CompiledDeployment*> contributors;
  for (const auto& [name, item] : pods) {
    if (std::find(contributors.begin(), contributors.end(), item.deployment.get()) ==
        contributors.end()) {
      contributors.push_back(item.deployment.get());
    }
  }
  std::map<std::string_view, DesiredContent::Item> creds;
  for (const auto& d : matching) {
    if (std::find(contributors.begin(), contributors.end(), d.get()) == contributors.end()) {
      continue;
    }
    const auto& cs = d->record.spec.registryCredentials;
    for (std::size_t i = 0; i < cs.size(); ++i) {
      auto [it, inserted] = creds.try_emplace(cs[i].server, DesiredContent::Item{d, i});
      if (!inserted && outranks(*d, *it->second.deployment)) it->second = {d, i};
    }
  }
  std::string material;
  material.reserve(pods.size() * 100 + creds.size() * 100);
  for (auto& [name, item] : pods) {
    material += "p ";
    material += name;
    material += ' ';
    material += item.deployment->specHashes[item.index];
    material += '\n';
    out.pods.push_back(std::move(item));
  }
  for (auto& [server, item] : creds) {
    material += "c ";
    material += item.deployment->credentialHashes[item.index];
    material += '\n';
    out.credentials.push_back(std::move(item));
  }
  out.hash = common::tls::sha256Hex(material);
  return out;
}

common::Json toDesiredJson(const DesiredContent& content, const std::string& deviceId,
                           std::int64_t version, const std::string& issuedAt) {
  proto::DesiredState shell;
  shell.deviceId = deviceId;
  shell.version = version;
  shell.issuedAt = issuedAt;
  for (const auto& item : content.credentials) {
    shell.registryCredentials.push_back(
        item.deployment->record.spec.registryCredentials[item.index]);
  }
  common::Json j = proto::toJson(shell);
  common::Json& pods = j["pods"];
  for (const auto& item : content.pods) pods.push_back(item.deployment->podJson[item.index]);
  return j;
}

proto::DesiredState toDesiredState(const DesiredContent& content, const std::string& deviceId,
                                   std::int64_t version, const std::string& issuedAt) {
  proto::DesiredState d;
  d.deviceId = deviceId;
  d.version = version;
  d.issuedAt = issuedAt;
  d.pods.reserve(content.pods.size());
  for (const auto& item : content.pods) {
    d.pods.push_back(item.deployment->record.spec.pods[item.index]);
  }
  for (const auto& item : content.credentials) {
    d.registryCredentials.push_back(item.deployment->record.spec.registryCredentials[item.index]);
  }
  return d;
}

}  // namespace skiff::hub::fleet
