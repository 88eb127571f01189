// Fleet: construction, loading from the store, lifecycle threads, label indexes, events.
#include "hub/fleet/fleet_internal.h"

namespace skiff::hub::fleet {

bool Fleet::isDegraded(const DeviceState& d) {
  if (!d.online) return false;
  if (d.refusing || !d.failing.empty()) return true;
  if (!d.reported) return false;
  return std::any_of(d.reported->modules.begin(), d.reported->modules.end(),
                     [](const auto& m) { return m.health == proto::Health::kUnhealthy; });
}

Fleet::Fleet(FleetOptions options) : opts_(std::move(options)), metrics_(new Metrics) {
  if (opts_.metrics) {
    auto& reg = *opts_.metrics;
    metrics_->accepted = &prometheus::BuildCounter()
                              .Name("skiff_hub_mqtt_messages_total")
                              .Help("Device messages accepted, by channel")
                              .Register(reg);
    std::size_t i = 0;
    for (const char* channel : {"reported", "presence", "metrics"}) {
      metrics_->acceptedBy[i++] = {channel, &metrics_->accepted->Add({{"channel", channel}})};
    }
    metrics_->rejected = &prometheus::BuildCounter()
                              .Name("skiff_hub_mqtt_rejected_total")
                              .Help(
                                  "Device messages refused (state unchanged), by channel and "
                                  "reason")
                              .Register(reg);
    metrics_->versions = &prometheus::BuildCounter()
                              .Name("skiff_hub_desired_versions_total")
                              .Help("New desired documents (a device's content changed)")
                              .Register(reg)
                              .Add({});
    metrics_->published = &prometheus::BuildCounter()
                               .Name("skiff_hub_desired_acknowledged_total")
                               .Help("Desired documents acknowledged by the broker")
                               .Register(reg)
                               .Add({});
    metrics_->reconcile =
        &prometheus::BuildHistogram()
             .Name("skiff_hub_reconcile_duration_seconds")
             .Help("One reconciler pass: compose, version and sign the dirty devices")
             .Register(reg)
             .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.2,
                                                              0.5, 1, 2, 5, 10});
    metrics_->devices = &prometheus::BuildGauge()
                             .Name("skiff_hub_devices")
                             .Help("Registered devices")
                             .Register(reg)
                             .Add({});
    metrics_->online = &prometheus::BuildGauge()
                            .Name("skiff_hub_devices_online")
                            .Help("Devices whose presence is online")
                            .Register(reg)
                            .Add({});
    metrics_->deployments = &prometheus::BuildGauge()
                                 .Name("skiff_hub_deployments")
                                 .Help("Deployments")
                                 .Register(reg)
                                 .Add({});
    metrics_->pendingWrites = &prometheus::BuildGauge()
                                   .Name("skiff_hub_store_writes_pending")
                                   .Help("Write-behind queue length")
                                   .Register(reg)
                                   .Add({});
  }
  writer_ = std::make_unique<StoreWriter>(*opts_.store, opts_.storeWriterThreads);
}

Fleet::~Fleet() { stop(); }

Result<std::unique_ptr<Fleet>> Fleet::load(FleetOptions options) {
  if (options.store == nullptr) return common::invalidArgument("fleet: no store");
  std::unique_ptr<Fleet> f(new Fleet(std::move(options)));
  SKIFF_ASSIGN_OR_RETURN(f->signingPublicKeyPem_, f->opts_.signingKey.publicKeyPem());
  f->signingKeyId_ = proto::keyIdOf(f->signingPublicKeyPem_);
  SKIFF_RETURN_IF_ERROR(f->loadAll());
  return f;
}

Status Fleet::loadAll() {
  auto& store = *opts_.store;
  std::lock_guard lock(mu_);
  SKIFF_ASSIGN_OR_RETURN(auto devs, store.list(keys::kDevices));
  for (const auto& kv : devs.items) {
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv.key, kv.value));
    auto rec = deviceRecordFromJson(j);
    if (!rec.isOk()) return common::internalError(kv.key + ": " + rec.status().message());
    auto d = std::make_unique<DeviceState>();
    d->record = std::move(*rec);
    byId_[d->record.id] = d.get();
    devices_.emplace(d->record.id, std::move(d));
  }
  SKIFF_ASSIGN_OR_RETURN(auto deps, store.list(keys::kDeployments));
  for (const auto& kv : deps.items) {
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv.key, kv.value));
    auto rec = deploymentRecordFromJson(j);
    if (!rec.isOk()) return common::internalError(kv.key + ": " + rec.status().message());
    auto compiled = compileDeployment(std::move(*rec));
    if (!compiled.isOk()) return common::internalError(kv.key + ": " + compiled.status().message());
    auto st = std::make_unique<DeploymentState>();
    st->compiled = std::move(*compiled);
    deployments_.emplace(st->compiled->id(), std::move(st));
  }
  SKIFF_RETURN_IF_ERROR(loadTwins());
  SKIFF_ASSIGN_OR_RETURN(auto desired, store.list(keys::kDesired));
  std::int64_t maxVersion = 0;
  for (const auto& kv : desired.items) {
    std::string id = kv.key.substr(keys::kDesired.size());
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv.key, kv.value));
    auto rec = desiredRecordFromJson(j);
    if (!rec.isOk()) return common::internalError(kv.key + ": " + rec.status().message());
    maxVersion = std::max(maxVersion, rec->version);
    auto it = devices_.find(id);
    if (it == devices_.end()) {
      writer_->remove(kv.key);
      continue;
    }
    DeviceState& d = *it->second;
    d.desiredVersion = d.publishedVersion = rec->version;
    d.desiredHash = rec->contentHash;
    d.desiredIssuedAt = rec->issuedAt;
  }
  for (int shard = 0; shard < kLastSeenShards; ++shard) {
    auto kv = store.get(keys::lastSeenShard(shard));
    if (!kv.isOk()) {
      if (kv.status().code() == common::StatusCode::kNotFound) continue;
      return kv.status();
    }
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv->key, kv->value));
    for (const auto& [id, ms] : j.items()) {
      auto it = devices_.find(id);
      if (it != devices_.end() && ms.is_number_integer()) {
        it->second->lastSeenMs = std::max(it->second->lastSeenMs, ms.get<std::int64_t>());
      }
    }
  }
  SKIFF_ASSIGN_OR_RETURN(auto revoked, store.list(keys::kRevoked));
  for (const auto& kv : revoked.items) {
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv.key, kv.value));
    auto r = revokedRecordFromJson(j);
    if (!r.isOk()) return common::internalError(kv.key + ": " + r.status().message());
    revoked_.emplace(r->serial, std::move(*r));
  }
  std::int64_t ceiling = 0;
  if (auto kv = store.get(keys::kVersionCeiling); kv.isOk()) {
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv->key, kv->value));
    const Json& c = common::jsonField(j, "ceiling");
    ceiling = c.is_number_integer() ? c.get<std::int64_t>() : 0;
  } else if (kv.status().code() != common::StatusCode::kNotFound) {
    return kv.status();
  }
  // Versions up to the persisted ceiling may have reached the broker before a crash: never
  // reuse them.
  nextVersion_ = std::max(ceiling, maxVersion) + 1;
  versionCeiling_ = nextVersion_ - 1;

  for (auto& [id, d] : devices_) {
    indexDevice(*d);
    dirty_.insert(id);
  }
  for (auto& [id, dep] : deployments_) {
    for (const auto& t : targetsOf(*dep)) {
      dep->targets.insert(t);
      devices_.at(t)->matches.insert(id);
    }
  }
  common::log::info("fleet loaded",
                    {{"devices", static_cast<std::int64_t>(devices_.size())},
                     {"deployments", static_cast<std::int64_t>(deployments_.size())},
                     {"nextVersion", nextVersion_}});
  return Status::ok();
}

// The devices' twins (online state, last report); mu_ held, devices loaded.
Status Fleet::loadTwins() {
  auto& store = *opts_.store;
  SKIFF_ASSIGN_OR_RETURN(auto twins, store.list(keys::kTwins));
  for (const auto& kv : twins.items) {
    std::string id = kv.key.substr(keys::kTwins.size());
    auto it = devices_.find(id);
    if (it == devices_.end()) {
      writer_->remove(kv.key);  // left over from a deletion that did not finish
      continue;
    }
    SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv.key, kv.value));
    auto t = twinRecordFromJson(j);
    if (!t.isOk()) return common::internalError(kv.key + ": " + t.status().message());
    DeviceState& d = *it->second;
    d.online = t->online;
    if (d.online) ++onlineCount_;
    d.presenceAtMs = t->presenceAtMs;
    d.lastSeenMs = t->lastSeenMs;
    if (!t->reportedJson.empty()) {
      auto pj = proto::parsePayload(t->reportedJson);
      auto rep = pj.isOk() ? proto::reportedFromJson(*pj) : Result<proto::Reported>(pj.status());
      if (rep.isOk()) {
        d.reported = std::move(*rep);
        d.reportedJson = t->reportedJson;
        d.arch = d.reported->facts.arch;
        for (const auto& m : d.reported->modules) {
          if (isFailing(*d.reported, m)) d.failing.insert(m.name);
        }
        d.refusing = d.reported->desiredError.has_value();
      } else {
        common::log::warn("ignoring unreadable stored twin",
                          {{"key", kv.key}, {"error", rep.status().toString()}});
      }
    }
  }
  return Status::ok();
}

void Fleet::start(DesiredSink& sink) {
  {
    std::lock_guard lock(mu_);
    sink_ = &sink;
  }
  reconciler_ = std::thread([this] { reconcileLoop(); });
  flusher_ = std::thread([this] { flushLoop(); });
  cv_.notify_all();
}

void Fleet::quiesce() {
  {
    std::lock_guard lock(mu_);
    quiescing_ = true;
  }
  cv_.notify_all();
  if (reconciler_.joinable()) reconciler_.join();
}

void Fleet::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  flushCv_.notify_all();
  if (reconciler_.joinable()) reconciler_.join();
  if (flusher_.joinable()) flusher_.join();
  {
    std::lock_guard lock(mu_);
    flushLastSeen();
  }
  writer_->stop();
  feed_.closeAll();
}

// ---- helpers (mu_ held) --------------------------------------------------------------------

Labels Fleet::allLabelsOf(const DeviceState& d) const {
  Labels l = d.record.labels;
  l[std::string(kLabelDeviceId)] = d.record.id;
  if (!d.arch.empty()) l[std::string(kLabelArch)] = d.arch;
  return l;
}

void Fleet::indexDevice(DeviceState& d) {
  d.indexedLabels = allLabelsOf(d);
  index_.add(d.record.id, d.indexedLabels);
}

void Fleet::unindexDevice(DeviceState& d) { index_.remove(d.record.id, d.indexedLabels); }

void Fleet::rematchDevice(DeviceState& d) {
  for (auto& [id, dep] : deployments_) {
    bool match = dep->compiled->selector.matches(d.indexedLabels);
    bool changed =
        match ? dep->targets.insert(d.record.id).second : dep->targets.erase(d.record.id) > 0;
    if (match) {
      d.matches.insert(id);
    } else {
      d.matches.erase(id);
    }
    if (changed) dep->markStale(&d);
  }
}

std::vector<std::string> Fleet::targetsOf(const DeploymentState& dep) const {
  std::vector<std::string> out;
  const auto& sel = dep.compiled->selector;
  if (auto cands = index_.candidates(sel)) {
    for (const auto& id : *cands) {
      auto it = devices_.find(id);
      if (it != devices_.end() && sel.matches(it->second->indexedLabels)) out.push_back(id);
    }
  } else {
    for (const auto& [id, d] : devices_) {
      if (sel.matches(d->indexedLabels)) out.push_back(id);
    }
  }
  return out;
}

void Fleet::markDirty(const std::string& id) {
  dirty_.insert(id);
  cv_.notify_all();
}

void Fleet::addEvent(std::string type, std::string reason, std::string message,
                     std::string deviceId, std::string deploymentId) {
  FleetEvent e{
      ++eventSeq_,         std::move(type),         std::move(reason),       std::move(message),
      std::move(deviceId), std::move(deploymentId), toMs(opts_.clock->now())};
  events_.push_back(std::move(e));
  while (events_.size() > opts_.maxEvents) events_.pop_front();
  feed_.notify(ChangeKind::kEvent, "");
}

void Fleet::notifyHeartbeat(const DeviceState& d) {
  feed_.notify(ChangeKind::kDeviceHeartbeat, d.record.id);
}

void Fleet::notifyDevice(const DeviceState& d, bool deployments) {
  if (!feed_.hasSubscribers()) return;
  feed_.notify(ChangeKind::kDevice, d.record.id);
  if (deployments) {
    for (const auto& m : d.matches) feed_.notify(ChangeKind::kDeployment, m);
  }
}

void Fleet::writeTwin(const DeviceState& d) {
  TwinRecord t{d.reportedJson, d.online, d.presenceAtMs, d.lastSeenMs};
  writer_->put(keys::twin(d.record.id), common::dumpJson(toJson(t)));
}

}  // namespace skiff::hub::fleet
