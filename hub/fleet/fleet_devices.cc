// Fleet: operator mutations and reads of devices (registry, labels, certificates) and of
// deployments.
#include "hub/fleet/fleet_internal.h"

namespace skiff::hub::fleet {

// ---- Devices ---------------------------------------------------------------------------------

Result<v1::Device> Fleet::createDevice(const std::string& id, const Labels& labels) {
  if (auto s = proto::validateDeviceId(id); !s.isOk()) return s.withContext("id");
  if (isReservedDeviceId(id)) {
    return common::invalidArgument("id \"" + id + "\" is reserved for the hub's own certificates");
  }
  SKIFF_RETURN_IF_ERROR(validateOperatorLabels(labels));
  std::lock_guard wlock(writeMu_);
  {
    std::lock_guard lock(mu_);
    if (devices_.contains(id)) {
      return common::alreadyExists("device \"" + id + "\" already exists");
    }
  }
  DeviceRecord rec;
  rec.id = id;
  rec.labels = labels;
  rec.createdAtMs = toMs(opts_.clock->now());
  auto created = opts_.store->create(keys::device(id), common::dumpJson(toJson(rec)));
  if (!created.isOk()) return created.status().withContext("storing device " + id);
  bool wasDenied = false;
  v1::Device view;
  {
    std::lock_guard lock(mu_);
    auto d = std::make_unique<DeviceState>();
    d->record = rec;
    DeviceState& ref = *d;
    byId_[ref.record.id] = &ref;
    devices_.emplace(id, std::move(d));
    indexDevice(ref);
    rematchDevice(ref);
    markDirty(id);
    for (const auto& [serial, r] : revoked_) wasDenied = wasDenied || r.deviceId == id;
    addEvent("Normal", "DeviceCreated", "device " + id + " registered", id);
    notifyDevice(ref, true);
    view = deviceView(ref, false);
  }
  if (wasDenied && opts_.onRevocationChanged) opts_.onRevocationChanged();
  return view;
}

Result<v1::Device> Fleet::getDevice(const std::string& id, bool withHistory) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return common::notFound("device \"" + id + "\" not found");
  return deviceView(*it->second, withHistory);
}

Result<std::vector<v1::Device>> Fleet::listDevices(const std::string& selector) const {
  auto sel = common::LabelSelector::parse(selector);
  if (!sel.isOk()) return sel.status().withContext("labelSelector");
  std::lock_guard lock(mu_);
  std::vector<v1::Device> out;
  if (auto cands = index_.candidates(*sel)) {
    for (const auto& id : *cands) {
      const DeviceState& d = *devices_.at(id);
      if (sel->matches(d.indexedLabels)) out.push_back(deviceView(d, false));
    }
  } else {
    out.reserve(devices_.size());
    for (const auto& [id, d] : devices_) {
      if (sel->matches(d->indexedLabels)) out.push_back(deviceView(*d, false));
    }
  }
  return out;
}

Result<v1::Device> Fleet::updateDeviceLabels(const std::string& id, const Labels& labels) {
  SKIFF_RETURN_IF_ERROR(validateOperatorLabels(labels));
  std::lock_guard wlock(writeMu_);
  DeviceRecord rec;
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return common::notFound("device \"" + id + "\" not found");
    if (it->second->record.labels == labels) return deviceView(*it->second, false);
    rec = it->second->record;
  }
  rec.labels = labels;
  auto s = opts_.store->update(keys::device(id), common::dumpJson(toJson(rec)), 0);
  if (!s.isOk()) return s.status().withContext("storing device " + id);
  std::lock_guard lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) return common::notFound("device \"" + id + "\" not found");
  DeviceState& d = *it->second;
  std::set<std::string> before = d.matches;
  unindexDevice(d);
  d.record = rec;
  indexDevice(d);
  rematchDevice(d);
  markDirty(id);
  addEvent("Normal", "DeviceLabelsChanged", "labels of " + id + " updated", id);
  notifyDevice(d, true);
  for (const auto& m : before) feed_.notify(ChangeKind::kDeployment, m);
  return deviceView(d, false);
}

Status Fleet::deleteDevice(const std::string& id) {
  std::lock_guard wlock(writeMu_);
  DeviceRecord rec;
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return common::notFound("device \"" + id + "\" not found");
    rec = it->second->record;
  }
  std::int64_t nowMs = toMs(opts_.clock->now());
  // Revocations first: should the delete fail half-way, the certificate is refused anyway.
  std::vector<RevokedRecord> revoked;
  if (!rec.certSerial.empty()) revoked.push_back({rec.certSerial, id, nowMs, rec.certNotAfterMs});
  if (!rec.previousCertSerial.empty() && rec.previousCertNotAfterMs > nowMs) {
    revoked.push_back({rec.previousCertSerial, id, nowMs, rec.previousCertNotAfterMs});
  }
  for (const auto& r : revoked) {
    auto c = opts_.store->create(keys::revoked(r.serial), common::dumpJson(toJson(r)));
    if (!c.isOk() && c.status().code() != common::StatusCode::kAlreadyExists) {
      return c.status().withContext("recording the revocation of " + id);
    }
  }
  auto removed = opts_.store->remove(keys::device(id), 0);
  if (!removed.isOk()) return removed.status().withContext("deleting device " + id);
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(id);
    if (it != devices_.end()) {
      DeviceState& d = *it->second;
      if (d.online) --onlineCount_;
      unindexDevice(d);
      for (const auto& m : d.matches) {
        auto dep = deployments_.find(m);
        if (dep != deployments_.end()) dep->second->targets.erase(id);
        feed_.notify(ChangeKind::kDeployment, m);
      }
      // Kept counts may name the device by address in any deployment (also one it left).
      for (auto& [depId, dep] : deployments_) {
        dep->recountAll = true;
        dep->stale.clear();
      }
      byId_.erase(d.record.id);
      devices_.erase(it);
    }
    dirty_.erase(id);
    for (auto& r : revoked) revoked_[r.serial] = r;
    dirtyLastSeenShards_.insert(shardOf(id));
    addEvent("Normal", "DeviceDeleted",
             "device " + id + " deleted" +
                 (revoked.empty() ? std::string() : "; its certificate is revoked"),
             id);
    feed_.notify(ChangeKind::kDevice, id);
    writer_->remove(keys::twin(id));
    writer_->remove(keys::desired(id));
    if (sink_ != nullptr) sink_->submit(DesiredDoc{id, 0, "", {}, true});
  }
  if (!revoked.empty() && opts_.onRevocationChanged) opts_.onRevocationChanged();
  return Status::ok();
}

bool Fleet::deviceExists(const std::string& id) const {
  std::lock_guard lock(mu_);
  return devices_.contains(id);
}

bool Fleet::deviceOnline(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = byId_.find(id);
  return it != byId_.end() && it->second->online;
}

Status Fleet::recordCertificate(const std::string& id, const std::string& serial,
                                std::int64_t notAfterMs, bool revokePrevious) {
  std::lock_guard wlock(writeMu_);
  DeviceRecord rec;
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(id);
    if (it == devices_.end()) return common::notFound("device \"" + id + "\" not found");
    rec = it->second->record;
  }
  std::int64_t nowMs = toMs(opts_.clock->now());
  std::vector<RevokedRecord> revoked;
  DeviceRecord next = rec;
  next.enrolled = true;
  next.certSerial = serial;
  next.certNotAfterMs = notAfterMs;
  if (revokePrevious) {
    if (!rec.certSerial.empty() && rec.certNotAfterMs > nowMs) {
      revoked.push_back({rec.certSerial, id, nowMs, rec.certNotAfterMs});
    }
    if (!rec.previousCertSerial.empty() && rec.previousCertNotAfterMs > nowMs) {
      revoked.push_back({rec.previousCertSerial, id, nowMs, rec.previousCertNotAfterMs});
    }
    next.previousCertSerial.clear();
    next.previousCertNotAfterMs = 0;
  } else {
    next.previousCertSerial = rec.certSerial;
    next.previousCertNotAfterMs = rec.certNotAfterMs;
  }
  for (const auto& r : revoked) {
    auto c = opts_.store->create(keys::revoked(r.serial), common::dumpJson(toJson(r)));
    if (!c.isOk() && c.status().code() != common::StatusCode::kAlreadyExists) return c.status();
  }
  auto s = opts_.store->update(keys::device(id), common::dumpJson(toJson(next)), 0);
  if (!s.isOk()) return s.status().withContext("storing device " + id);
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(id);
    if (it != devices_.end()) {
      it->second->record = next;
      notifyDevice(*it->second, false);
    }
    for (auto& r : revoked) revoked_[r.serial] = r;
    addEvent("Normal", revokePrevious ? "DeviceEnrolled" : "CertificateRenewed",
             "device " + id + (revokePrevious ? " enrolled" : " renewed its certificate") +
                 " (serial " + serial + ")",
             id);
  }
  if (!revoked.empty() && opts_.onRevocationChanged) opts_.onRevocationChanged();
  return Status::ok();
}

Status Fleet::checkDeviceCertificate(const std::string& id, const std::string& serial) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(id);
  if (it == devices_.end()) {
    return common::unauthenticated("device \"" + id + "\" is not registered (deleted?)");
  }
  if (revoked_.contains(serial)) {
    return common::unauthenticated("certificate " + serial + " was revoked");
  }
  const DeviceRecord& r = it->second->record;
  if (!r.enrolled) return common::unauthenticated("device \"" + id + "\" is not enrolled");
  if (serial == r.certSerial || (!serial.empty() && serial == r.previousCertSerial)) {
    return Status::ok();
  }
  return common::unauthenticated("certificate " + serial + " is not the current certificate of " +
                                 id + "; enroll again with a new token");
}

// ---- Deployments -----------------------------------------------------------------------------

Result<v1::Deployment> Fleet::applyDeployment(const DeploymentInput& input) {
  SKIFF_ASSIGN_OR_RETURN(DeploymentSpec spec, validateDeployment(input));
  std::lock_guard wlock(writeMu_);
  DeploymentRecord rec;
  bool exists = false;
  {
    std::lock_guard lock(mu_);
    auto it = deployments_.find(spec.id);
    if (it != deployments_.end()) {
      const DeploymentRecord& old = it->second->compiled->record;
      if (old.spec == spec) return deploymentViewLocked(*it->second, false);
      exists = true;
      rec.generation = old.generation + 1;
      rec.createdAtMs = old.createdAtMs;
    }
  }
  std::int64_t nowMs = toMs(opts_.clock->now());
  if (!exists) rec.createdAtMs = nowMs;
  rec.updatedAtMs = nowMs;
  rec.spec = std::move(spec);
  SKIFF_ASSIGN_OR_RETURN(DeploymentPtr compiled, compileDeployment(rec));
  std::string key = keys::deployment(rec.spec.id);
  std::string value = common::dumpJson(toJson(rec));
  auto w = exists ? opts_.store->update(key, value, 0) : opts_.store->create(key, value);
  if (!w.isOk()) return w.status().withContext("storing deployment " + rec.spec.id);
  std::lock_guard lock(mu_);
  auto& slot = deployments_[rec.spec.id];
  if (!slot) slot = std::make_unique<DeploymentState>();
  DeploymentState& st = *slot;
  std::set<std::string> old = std::move(st.targets);
  st.compiled = compiled;
  st.recountAll = true;  // a new spec or generation changes every target's outcome
  st.targets.clear();
  for (const auto& t : targetsOf(st)) st.targets.insert(t);
  for (const auto& t : old) {
    if (!st.targets.contains(t)) {
      auto d = devices_.find(t);
      if (d != devices_.end()) {
        d->second->matches.erase(rec.spec.id);
        notifyDevice(*d->second, false);
      }
      markDirty(t);
    }
  }
  for (const auto& t : st.targets) {
    auto& d = *devices_.at(t);
    if (d.matches.insert(rec.spec.id).second) notifyDevice(d, false);
    markDirty(t);
  }
  addEvent("Normal", exists ? "DeploymentUpdated" : "DeploymentCreated",
           "deployment " + rec.spec.id + " generation " + std::to_string(rec.generation) +
               " targets " + std::to_string(st.targets.size()) + " device(s)",
           "", rec.spec.id);
  feed_.notify(ChangeKind::kDeployment, rec.spec.id);
  return deploymentViewLocked(st, false);
}

Result<v1::Deployment> Fleet::getDeployment(const std::string& id) const {
  return deploymentView(id, true);
}

Result<v1::Deployment> Fleet::deploymentView(const std::string& id, bool withDevices) const {
  std::lock_guard lock(mu_);
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return common::notFound("deployment \"" + id + "\" not found");
  return deploymentViewLocked(*it->second, withDevices);
}

Result<std::vector<v1::Deployment>> Fleet::listDeployments(const std::string& selector) const {
  auto sel = common::LabelSelector::parse(selector);
  if (!sel.isOk()) return sel.status().withContext("labelSelector");
  std::lock_guard lock(mu_);
  std::vector<v1::Deployment> out;
  for (const auto& [id, dep] : deployments_) {
    if (sel->matches(dep->compiled->record.spec.labels)) {
      out.push_back(deploymentViewLocked(*dep, false));
    }
  }
  return out;
}

Status Fleet::deleteDeployment(const std::string& id) {
  std::lock_guard wlock(writeMu_);
  {
    std::lock_guard lock(mu_);
    if (!deployments_.contains(id)) {
      return common::notFound("deployment \"" + id + "\" not found");
    }
  }
  auto removed = opts_.store->remove(keys::deployment(id), 0);
  if (!removed.isOk()) return removed.status().withContext("deleting deployment " + id);
  std::lock_guard lock(mu_);
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return Status::ok();
  for (const auto& t : it->second->targets) {
    auto d = devices_.find(t);
    if (d == devices_.end()) continue;
    d->second->matches.erase(id);
    d->second->depVersions.erase(id);
    notifyDevice(*d->second, false);
    markDirty(t);
  }
  std::size_t targets = it->second->targets.size();
  deployments_.erase(it);
  addEvent(
      "Normal", "DeploymentDeleted",
      "deployment " + id + " deleted; its pods leave " + std::to_string(targets) + " device(s)", "",
      id);
  feed_.notify(ChangeKind::kDeployment, id);
  return Status::ok();
}

bool Fleet::deviceMatches(const std::string& id, const common::LabelSelector& sel) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(id);
  return it != devices_.end() && sel.matches(it->second->indexedLabels);
}

bool Fleet::deploymentMatches(const std::string& id, const common::LabelSelector& sel) const {
  std::lock_guard lock(mu_);
  auto it = deployments_.find(id);
  return it != deployments_.end() && sel.matches(it->second->compiled->record.spec.labels);
}

std::vector<std::string> Fleet::deviceIds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, d] : devices_) out.push_back(id);
  return out;
}

std::vector<std::string> Fleet::deploymentIds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, d] : deployments_) out.push_back(id);
  return out;
}

}  // namespace skiff::hub::fleet
