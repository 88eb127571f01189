// Fleet state: load, operator mutations, desired reconciler, reported ingest, aggregation.
#include "hub/fleet/fleet.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "common/log.h"

namespace skiff::hub::fleet {

namespace proto = common::protocol;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kLastSeenShards = 16;

std::int64_t toMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int shardOf(std::string_view id) {
  std::uint32_t h = 2166136261u;  // FNV-1a: stable across builds, unlike std::hash
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return static_cast<int>(h % kLastSeenShards);
}

// Waiting/terminated reasons that mean a container does not work (and will not by itself).
bool isFailing(const proto::ModuleStatus& s) {
  static const std::set<std::string, std::less<>> kWaiting = {
      "CrashLoopBackOff",  "ErrImagePull",     "ImagePullBackOff",           "CreateContainerError",
      "RunContainerError", "InvalidImageName", "CreateContainerConfigError", "ErrImageNeverPull"};
  if (s.state == proto::ModuleState::kWaiting) return kWaiting.contains(s.reason);
  if (s.state == proto::ModuleState::kTerminated) {
    return s.reason == "Error" || s.reason == "OOMKilled" ||
           (s.exitCode.has_value() && *s.exitCode != 0 && s.reason != "Completed");
  }
  return false;
}

// As above, in the context of the device's report: the sidecars of a pod that has completed
// (Succeeded or Failed) were stopped by the agent, the way the kubelet stops them, and their
// exit code says nothing about the pod (the pod's phase does).
bool isFailing(const proto::Reported& r, const proto::ModuleStatus& s) {
  if (s.kind == proto::ContainerKind::kSidecar) {
    std::string_view pod = proto::podOfModule(s.name);
    for (const auto& p : r.pods) {
      if (p.name == pod && (p.phase == "Succeeded" || p.phase == "Failed")) return false;
    }
  }
  return isFailing(s);
}

constexpr std::size_t kOverviewLabelValues = 50;

// Reported state without the fields that change on every heartbeat.
bool sameMaterial(const proto::Reported& a, const proto::Reported& b) {
  return a.appliedVersion == b.appliedVersion && a.desiredError == b.desiredError &&
         a.pods == b.pods && a.modules == b.modules && a.facts == b.facts;
}

}  // namespace

struct Fleet::DeviceState {
  DeviceRecord record;
  std::string arch;      // from the reported facts: the skiff.io/arch label
  Labels indexedLabels;  // operator ∪ implicit, as indexed
  std::optional<proto::Reported> reported;
  std::string reportedJson;
  bool online = false;
  std::int64_t presenceAtMs = 0;
  std::int64_t lastSeenMs = 0;
  std::string metricsJson;
  std::unique_ptr<MetricsHistory> history;
  std::set<std::string> matches;  // deployment ids
  // Desired state: the newest composed document and the newest acknowledged one.
  std::int64_t desiredVersion = 0;
  std::string desiredHash;
  std::string desiredIssuedAt;
  std::int64_t publishedVersion = 0;
  DesiredContent content;
  // For each matching deployment: the generation last seen and the first desired version that
  // carried it ("applied" = appliedVersion >= that version).
  struct DepVersion {
    std::int64_t generation = 0;
    std::int64_t version = 0;
  };
  std::map<std::string, DepVersion, std::less<>> depVersions;
  std::set<std::string> failing;  // module names currently failing (for events)
  bool refusing = false;
};

struct Fleet::DeploymentState {
  DeploymentPtr compiled;
  std::set<std::string> targets;
  // The status counts, kept per targeted device: a device's contribution (Outcome bits) is
  // recounted only when something it depends on changed (markStale), so a status query costs
  // O(changed devices), not O(targets) — clients poll and watch it during rollouts. Built by the
  // first query (recountAll); guarded by mu_, mutable because queries are const. Devices are
  // named by address (no string copies on the ingest path): deleting a device recounts all.
  mutable std::unordered_map<const DeviceState*, std::uint8_t> contrib;
  mutable std::vector<const DeviceState*> stale;  // may repeat; recounting twice is harmless
  mutable bool recountAll = true;

  void markStale(const DeviceState* d) const {
    if (recountAll) return;
    // Nobody asked for a while: a full recount is cheaper than an ever longer list.
    if (stale.size() >= targets.size() + 64) {
      recountAll = true;
      stale.clear();
      return;
    }
    stale.push_back(d);
  }
  mutable std::array<int, 4> counts{};  // applied, running, failed, offline
};

namespace {
// A device's outcome for one deployment, as bits (index = bit in DeploymentState::counts).
enum Outcome : std::uint8_t { kApplied = 1, kRunning = 2, kFailed = 4, kOffline = 8 };

void addOutcome(std::array<int, 4>& counts, std::uint8_t bits, int sign) {
  for (int i = 0; i < 4; ++i) {
    if ((bits & (1 << i)) != 0) counts[static_cast<std::size_t>(i)] += sign;
  }
}
}  // namespace

bool Fleet::isDegraded(const DeviceState& d) {
  if (!d.online) return false;
  if (d.refusing || !d.failing.empty()) return true;
  if (!d.reported) return false;
  return std::any_of(d.reported->modules.begin(), d.reported->modules.end(),
                     [](const auto& m) { return m.health == proto::Health::kUnhealthy; });
}

struct Fleet::Metrics {
  prometheus::Family<prometheus::Counter>* accepted = nullptr;
  prometheus::Family<prometheus::Counter>* rejected = nullptr;
  prometheus::Counter* versions = nullptr;
  prometheus::Counter* published = nullptr;
  prometheus::Histogram* reconcile = nullptr;
  prometheus::Gauge* devices = nullptr;
  prometheus::Gauge* online = nullptr;
  prometheus::Gauge* deployments = nullptr;
  prometheus::Gauge* pendingWrites = nullptr;

  // The channels' counters, made once: Family::Add builds a label map per call, and accept()
  // runs for every device message.
  std::array<std::pair<std::string_view, prometheus::Counter*>, 3> acceptedBy{};

  void accept(std::string_view channel) {
    for (const auto& [name, counter] : acceptedBy) {
      if (name == channel && counter != nullptr) return counter->Increment();
    }
    if (accepted) accepted->Add({{"channel", std::string(channel)}}).Increment();
  }
  void reject(const char* channel, RejectReason r) {
    static const char* kNames[] = {"malformed", "oversized", "unknown_device", "device_mismatch"};
    if (rejected) {
      rejected->Add({{"channel", channel}, {"reason", kNames[static_cast<int>(r)]}}).Increment();
    }
  }
};

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
    ceiling = j.value("ceiling", std::int64_t{0});
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

// ---- Views -------------------------------------------------------------------------------------

v1::Device Fleet::deviceView(const DeviceState& d, bool withHistory) const {
  v1::Device v;
  v.set_id(d.record.id);
  for (const auto& [k, val] : d.record.labels) (*v.mutable_labels())[k] = val;
  (*v.mutable_implicit_labels())[std::string(kLabelDeviceId)] = d.record.id;
  if (!d.arch.empty()) (*v.mutable_implicit_labels())[std::string(kLabelArch)] = d.arch;
  v.set_created_at_unix_ms(d.record.createdAtMs);
  v.set_enrolled(d.record.enrolled);
  v.set_certificate_serial(d.record.certSerial);
  v.set_certificate_not_after_unix_ms(d.record.certNotAfterMs);
  v.set_online(d.online);
  v.set_last_seen_unix_ms(d.lastSeenMs);
  v.set_desired_version(d.desiredVersion);
  v.set_applied_version(d.reported ? d.reported->appliedVersion : 0);
  v.set_reported_json(d.reportedJson);
  v.set_metrics_json(d.metricsJson);
  for (const auto& m : d.matches) v.add_deployment_ids(m);
  if (withHistory) {
    v.set_metrics_history_json(
        d.history ? common::dumpJson(d.history->toJson(toMs(opts_.clock->now()))) : "[]");
  }
  return v;
}

v1::Deployment Fleet::deploymentViewLocked(const DeploymentState& dep, bool withDevices) const {
  const DeploymentRecord& r = dep.compiled->record;
  v1::Deployment v;
  v.set_id(r.spec.id);
  for (const auto& [k, val] : r.spec.labels) (*v.mutable_labels())[k] = val;
  for (const auto& [k, val] : r.spec.annotations) (*v.mutable_annotations())[k] = val;
  v.set_target_selector(r.spec.targetSelector);
  v.set_priority(r.spec.priority);
  Json pods = Json::array();
  for (const auto& p : dep.compiled->podJson) pods.push_back(p);
  v.set_pods_json(common::dumpJson(pods));
  v.set_registry_credentials_json(
      common::dumpJson(credentialsToJson(r.spec.registryCredentials, false)));
  v.set_generation(r.generation);
  v.set_created_at_unix_ms(r.createdAtMs);
  v.set_updated_at_unix_ms(r.updatedAtMs);
  deploymentStatusLocked(dep, withDevices, v.mutable_status());
  return v;
}

std::uint8_t Fleet::deviceOutcome(const DeploymentState& dep, const DeviceState& d,
                                  v1::DeviceModules* detail) const {
  const DeploymentRecord& r = dep.compiled->record;
  std::int64_t required = 0;
  if (auto dv = d.depVersions.find(r.spec.id);
      dv != d.depVersions.end() && dv->second.generation == r.generation) {
    required = dv->second.version;
  }
  std::int64_t appliedVersion = d.reported ? d.reported->appliedVersion : 0;
  bool isApplied = required > 0 && appliedVersion >= required;
  Json statuses;  // per-device detail only when asked for (no allocation otherwise)
  Json podStatuses;
  std::vector<std::string> shadowed;
  bool allRunning = true;
  bool anyFailing = false;
  for (std::size_t i = 0; i < r.spec.pods.size(); ++i) {
    const auto& p = r.spec.pods[i];
    const auto* winner = d.content.podNamed(p.name);
    if (winner != nullptr && winner->deployment->id() != r.spec.id) {
      if (detail != nullptr) shadowed.push_back(p.name);
      continue;
    }
    const proto::PodStatus* found = nullptr;
    if (d.reported) {
      for (const auto& s : d.reported->pods) {
        if (s.name == p.name && s.deploymentId == r.spec.id) found = &s;
      }
    }
    if (found != nullptr && detail != nullptr) podStatuses.push_back(proto::toJson(*found));
    bool current =
        found != nullptr && !found->terminating && found->specHash == dep.compiled->specHashes[i];
    bool works =
        current && ((found->phase == "Running" && found->ready) || found->phase == "Succeeded");
    if (!works) allRunning = false;
    if (current && found->phase == "Failed") anyFailing = true;
    if (!d.reported) continue;
    for (const auto& m : d.reported->modules) {
      if (m.deploymentId != r.spec.id || proto::podOfModule(m.name) != p.name) continue;
      if (detail != nullptr) statuses.push_back(proto::toJson(m));
      if (current && isFailing(*d.reported, m)) anyFailing = true;
    }
  }
  std::string error;
  if (d.reported && d.reported->desiredError) {
    const auto& e = *d.reported->desiredError;
    if (detail != nullptr) error = e.reason + (e.message.empty() ? "" : ": " + e.message);
    if (e.version >= required || e.version == 0) anyFailing = true;
  }
  std::uint8_t bits = 0;
  if (isApplied) bits |= kApplied;
  if (d.online && isApplied && allRunning) bits |= kRunning;
  if (d.online && anyFailing) bits |= kFailed;
  if (!d.online) bits |= kOffline;
  if (detail != nullptr) {
    detail->set_device_id(d.record.id);
    detail->set_online(d.online);
    detail->set_applied(isApplied);
    detail->set_desired_version(d.desiredVersion);
    detail->set_applied_version(appliedVersion);
    detail->set_modules_json(common::dumpJson(statuses.is_null() ? Json::array() : statuses));
    detail->set_pods_json(common::dumpJson(podStatuses.is_null() ? Json::array() : podStatuses));
    detail->set_error(error);
    for (auto& s : shadowed) detail->add_shadowed_pods(s);
  }
  return bits;
}

template <typename F>
void Fleet::forEachTarget(const DeploymentState& dep, F&& fn) const {
  // dep.targets and devices_ are both ordered by id. When the deployment targets a good part of
  // the fleet, walk the two together: a lookup per target costs ~13 string comparisons at 5,000
  // devices.
  const bool walk = dep.targets.size() * 8 >= devices_.size();
  auto next = devices_.begin();
  for (const auto& t : dep.targets) {
    auto it = devices_.end();
    if (walk) {
      while (next != devices_.end() && next->first < t) ++next;
      if (next != devices_.end() && next->first == t) it = next;
    } else {
      it = devices_.find(t);
    }
    if (it != devices_.end()) fn(*it->second);
  }
}

void Fleet::markStatusStale(const DeviceState& d) {
  for (const auto& m : d.matches) {
    auto dep = deployments_.find(m);
    if (dep != deployments_.end()) dep->second->markStale(&d);
  }
}

void Fleet::refreshCounts(const DeploymentState& dep) const {
  if (dep.recountAll) {
    dep.contrib.clear();
    dep.stale.clear();
    dep.counts = {};
    dep.contrib.reserve(dep.targets.size());
    forEachTarget(dep, [&](const DeviceState& d) {
      std::uint8_t bits = deviceOutcome(dep, d, nullptr);
      dep.contrib.emplace(&d, bits);
      addOutcome(dep.counts, bits, 1);
    });
    dep.recountAll = false;
    return;
  }
  for (const DeviceState* d : dep.stale) {
    if (auto c = dep.contrib.find(d); c != dep.contrib.end()) {
      addOutcome(dep.counts, c->second, -1);
      dep.contrib.erase(c);
    }
    if (!dep.targets.contains(d->record.id)) continue;
    std::uint8_t bits = deviceOutcome(dep, *d, nullptr);
    dep.contrib.emplace(d, bits);
    addOutcome(dep.counts, bits, 1);
  }
  dep.stale.clear();
}

void Fleet::deploymentStatusLocked(const DeploymentState& dep, bool withDevices,
                                   v1::DeploymentStatus* st) const {
  std::array<int, 4> counts{};
  if (withDevices) {
    forEachTarget(dep, [&](const DeviceState& d) {
      addOutcome(counts, deviceOutcome(dep, d, st->add_devices()), 1);
    });
  } else {
    refreshCounts(dep);
    counts = dep.counts;
#ifndef NDEBUG
    std::array<int, 4> full{};
    forEachTarget(
        dep, [&](const DeviceState& d) { addOutcome(full, deviceOutcome(dep, d, nullptr), 1); });
    if (full != counts) {
      common::log::error("deployment status counts drifted from a full count",
                         {{"deployment", dep.compiled->id()}});
      std::abort();
    }
#endif
  }
  st->set_targeted(static_cast<int>(dep.targets.size()));
  st->set_applied(counts[0]);
  st->set_running(counts[1]);
  st->set_failed(counts[2]);
  st->set_offline(counts[3]);
}

v1::FleetStatus Fleet::fleetStatus() const {
  std::lock_guard lock(mu_);
  v1::FleetStatus s;
  int enrolled = 0, online = 0;
  std::int64_t cpu = 0, mem = 0, disk = 0;
  for (const auto& [id, d] : devices_) {
    if (d->record.enrolled) ++enrolled;
    if (!d->online) continue;
    ++online;
    if (d->reported) {
      cpu += static_cast<std::int64_t>(d->reported->facts.cpus) * 1000;
      mem += d->reported->facts.memoryBytes;
      disk += d->reported->facts.diskBytes;
    }
  }
  s.set_devices(static_cast<int>(devices_.size()));
  s.set_enrolled(enrolled);
  s.set_online(online);
  s.set_cpu_millis(cpu);
  s.set_memory_bytes(mem);
  s.set_disk_bytes(disk);
  s.set_deployments(static_cast<int>(deployments_.size()));
  s.set_broker_connected(brokerConnected_);
  s.set_broker_url(brokerUrl_);
  return s;
}

void Fleet::setBroker(bool connected, const std::string& url) {
  std::lock_guard lock(mu_);
  brokerUrl_ = url;
  if (brokerConnected_ == connected) return;
  brokerConnected_ = connected;
  addEvent(connected ? "Normal" : "Warning", connected ? "BrokerConnected" : "BrokerDisconnected",
           std::string("hub ") + (connected ? "connected to " : "lost its connection to ") + url);
  feed_.notify(ChangeKind::kHub, "");
}

bool Fleet::brokerConnected() const {
  std::lock_guard lock(mu_);
  return brokerConnected_;
}

std::vector<FleetEvent> Fleet::events(std::size_t limit, std::uint64_t afterSeq) const {
  std::lock_guard lock(mu_);
  std::vector<FleetEvent> out;
  for (auto it = events_.rbegin(); it != events_.rend() && out.size() < limit; ++it) {
    if (it->seq <= afterSeq) break;
    out.push_back(*it);
  }
  return out;  // newest first
}

Json Fleet::overview() const {
  std::lock_guard lock(mu_);
  struct Counts {
    int total = 0, online = 0, degraded = 0;
  };
  Counts all;
  int enrolled = 0;
  std::map<std::string, std::map<std::string, Counts>, std::less<>> byLabel;
  for (const auto& [id, d] : devices_) {
    if (d->record.enrolled) ++enrolled;
    bool degraded = isDegraded(*d);
    auto count = [&](Counts& c) {
      ++c.total;
      if (d->online) ++c.online;
      if (degraded) ++c.degraded;
    };
    count(all);
    for (const auto& [k, v] : d->indexedLabels) {
      if (k != kLabelDeviceId) count(byLabel[k][v]);
    }
  }
  auto countsJson = [](const Counts& c) {
    return Json{{"total", c.total},
                {"online", c.online},
                {"offline", c.total - c.online},
                {"degraded", c.degraded}};
  };
  Json labels = Json::object();
  for (const auto& [k, values] : byLabel) {
    // The 50 values with the most devices (ties: by value), then in value order.
    std::vector<std::pair<std::string, Counts>> top(values.begin(), values.end());
    if (top.size() > kOverviewLabelValues) {
      std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
        return a.second.total > b.second.total;
      });
      top.resize(kOverviewLabelValues);
      std::sort(top.begin(), top.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    Json list = Json::array();
    for (const auto& [v, c] : top) {
      Json j = countsJson(c);
      j["value"] = v;
      list.push_back(std::move(j));
    }
    labels[k] = std::move(list);
  }
  int degradedDeployments = 0;
  for (const auto& [id, dep] : deployments_) {
    v1::DeploymentStatus st;
    deploymentStatusLocked(*dep, false, &st);
    if (st.failed() > 0) ++degradedDeployments;
  }
  Json events = Json::array();
  for (auto it = events_.rbegin(); it != events_.rend() && events.size() < 20; ++it) {
    Json e = {{"seq", it->seq},
              {"type", it->type},
              {"reason", it->reason},
              {"message", it->message},
              {"at", common::formatRfc3339(std::chrono::system_clock::time_point(
                         std::chrono::milliseconds(it->atMs)))}};
    if (!it->deviceId.empty()) e["deviceId"] = it->deviceId;
    if (!it->deploymentId.empty()) e["deploymentId"] = it->deploymentId;
    events.push_back(std::move(e));
  }
  Json devices = countsJson(all);
  devices["enrolled"] = enrolled;
  return {{"devices", devices},
          {"byLabel", labels},
          {"deployments",
           {{"total", static_cast<int>(deployments_.size())}, {"degraded", degradedDeployments}}},
          {"brokerConnected", brokerConnected_},
          {"recentEvents", events}};
}

RevocationSnapshot Fleet::revocationSnapshot() const {
  std::lock_guard lock(mu_);
  RevocationSnapshot s;
  std::int64_t nowMs = toMs(opts_.clock->now());
  for (const auto& [serial, r] : revoked_) {
    if (r.notAfterMs > 0 && r.notAfterMs < nowMs) continue;  // expired anyway
    s.revoked.push_back(r);
    if (!r.deviceId.empty() && !devices_.contains(r.deviceId)) s.deniedDevices.insert(r.deviceId);
  }
  return s;
}

// ---- Reported side ---------------------------------------------------------------------------

namespace {

std::optional<IngestError> payloadError(const Status& s) {
  if (s.isOk()) return std::nullopt;
  return IngestError{s.code() == common::StatusCode::kResourceExhausted ? RejectReason::kOversized
                                                                        : RejectReason::kMalformed,
                     s};
}

// Strictly parses a device payload with a protocol parser into out.
template <typename T>
std::optional<IngestError> parseDevicePayload(std::string_view payload,
                                              common::Result<T> (*parse)(const Json&), T& out) {
  auto j = proto::parsePayload(payload);
  if (!j.isOk()) return payloadError(j.status());
  auto v = parse(*j);
  if (!v.isOk()) return IngestError{RejectReason::kMalformed, v.status()};
  out = std::move(*v);
  return std::nullopt;
}

}  // namespace

std::optional<IngestError> Fleet::reject(const char* channel, IngestError e) {
  metrics_->reject(channel, e.reason);
  return e;
}

Fleet::DeviceState* Fleet::ingestTarget(const char* channel, const std::string& deviceId,
                                        std::optional<IngestError>& err) {
  auto it = byId_.find(deviceId);
  if (it == byId_.end()) {
    err = reject(channel, {RejectReason::kUnknownDevice,
                           common::notFound("device \"" + deviceId + "\" is not registered")});
    return nullptr;
  }
  metrics_->accept(channel);
  return it->second;
}

std::optional<IngestError> Fleet::ingestReported(const std::string& deviceId,
                                                 std::string_view payload) {
  proto::Reported parsed;
  if (auto e = parseDevicePayload(payload, &proto::reportedFromJson, parsed)) {
    return reject("reported", std::move(*e));
  }
  auto rep = &parsed;
  if (rep->deviceId != deviceId) {
    return reject("reported", {RejectReason::kDeviceMismatch,
                               common::permissionDenied("reported.deviceId \"" + rep->deviceId +
                                                        "\" does not match the topic's device \"" +
                                                        deviceId + "\"")});
  }
  std::int64_t nowMs = toMs(opts_.clock->now());
  std::lock_guard lock(mu_);
  std::optional<IngestError> err;
  DeviceState* target = ingestTarget("reported", deviceId, err);
  if (target == nullptr) return err;
  DeviceState& d = *target;
  d.lastSeenMs = nowMs;
  dirtyLastSeenShards_.insert(shardOf(deviceId));
  bool changed = !d.reported || !sameMaterial(*d.reported, *rep);
  d.reportedJson.assign(payload);
  if (!changed) {
    d.reported = std::move(parsed);
    notifyHeartbeat(d);
    return std::nullopt;
  }
  d.reported = std::move(parsed);
  const proto::Reported& r = *d.reported;
  if (!r.facts.arch.empty() && r.facts.arch != d.arch) {
    unindexDevice(d);
    d.arch = r.facts.arch;
    indexDevice(d);
    rematchDevice(d);
    markDirty(deviceId);
  }
  bool refusing = r.desiredError.has_value();
  if (refusing && !d.refusing) {
    addEvent("Warning", "DesiredRefused",
             "device " + deviceId + " refused desired version " +
                 std::to_string(r.desiredError->version) + ": " + r.desiredError->reason +
                 (r.desiredError->message.empty() ? "" : " (" + r.desiredError->message + ")"),
             deviceId);
  }
  d.refusing = refusing;
  std::set<std::string> failing;
  for (const auto& m : r.modules) {
    if (!isFailing(r, m)) continue;
    failing.insert(m.name);
    if (!d.failing.contains(m.name)) {
      addEvent("Warning", "ModuleFailed",
               "module " + m.name + " on " + deviceId + ": " + m.reason +
                   (m.message.empty() ? "" : " (" + m.message + ")"),
               deviceId, m.deploymentId);
    }
  }
  for (const auto& name : d.failing) {
    if (!failing.contains(name)) {
      addEvent("Normal", "ModuleRecovered", "module " + name + " on " + deviceId + " recovered",
               deviceId);
    }
  }
  d.failing = std::move(failing);
  markStatusStale(d);
  writeTwin(d);
  notifyDevice(d, true);
  return std::nullopt;
}

std::optional<IngestError> Fleet::ingestPresence(const std::string& deviceId,
                                                 std::string_view payload) {
  proto::Presence parsed;
  if (auto e = parseDevicePayload(payload, &proto::presenceFromJson, parsed)) {
    return reject("presence", std::move(*e));
  }
  const proto::Presence* p = &parsed;
  std::int64_t nowMs = toMs(opts_.clock->now());
  std::lock_guard lock(mu_);
  std::optional<IngestError> err;
  DeviceState* target = ingestTarget("presence", deviceId, err);
  if (target == nullptr) return err;
  DeviceState& d = *target;
  if (p->online) {
    d.lastSeenMs = nowMs;
    dirtyLastSeenShards_.insert(shardOf(deviceId));
  }
  if (d.online == p->online) return std::nullopt;
  d.online = p->online;
  onlineCount_ += d.online ? 1 : -1;
  d.presenceAtMs = nowMs;
  markStatusStale(d);
  addEvent(p->online ? "Normal" : "Warning", p->online ? "DeviceOnline" : "DeviceOffline",
           "device " + deviceId + (p->online ? " is online" : " went offline") +
               (p->agentVersion.empty() ? "" : " (agent " + p->agentVersion + ")"),
           deviceId);
  writeTwin(d);
  notifyDevice(d, true);
  return std::nullopt;
}

std::optional<IngestError> Fleet::ingestMetrics(const std::string& deviceId,
                                                std::string_view payload) {
  proto::Metrics parsed;
  if (auto e = parseDevicePayload(payload, &proto::metricsFromJson, parsed)) {
    return reject("metrics", std::move(*e));
  }
  const proto::Metrics* m = &parsed;
  std::int64_t nowMs = toMs(opts_.clock->now());
  std::lock_guard lock(mu_);
  std::optional<IngestError> err;
  DeviceState* target = ingestTarget("metrics", deviceId, err);
  if (target == nullptr) return err;
  DeviceState& d = *target;
  d.metricsJson.assign(payload);
  if (!d.history) {
    d.history = std::make_unique<MetricsHistory>(opts_.metricsResolution, opts_.metricsWindow);
  }
  d.history->add(nowMs, *m);
  d.lastSeenMs = nowMs;
  dirtyLastSeenShards_.insert(shardOf(deviceId));
  notifyHeartbeat(d);
  return std::nullopt;
}

void Fleet::onPublished(const DesiredDoc& doc) {
  if (doc.clear) return;
  if (metrics_->published) metrics_->published->Increment();
  std::lock_guard lock(mu_);
  auto it = byId_.find(doc.deviceId);
  if (it == byId_.end()) return;
  DeviceState& d = *it->second;
  if (doc.version <= d.publishedVersion) return;
  d.publishedVersion = doc.version;
  writer_->put(keys::desired(doc.deviceId), common::dumpJson(toJson(doc.record)));
}

// ---- Reconciler ------------------------------------------------------------------------------

Status Fleet::ensureVersionCeiling(std::int64_t needed) {
  std::int64_t target;
  {
    std::lock_guard lock(mu_);
    if (nextVersion_ + needed - 1 <= versionCeiling_) return Status::ok();
    target = nextVersion_ + needed - 1 + opts_.versionBlock;
  }
  std::string value = common::dumpJson(Json{{"ceiling", target}});
  auto w = opts_.store->update(keys::kVersionCeiling, value, 0);
  if (!w.isOk() && w.status().code() == common::StatusCode::kNotFound) {
    w = opts_.store->create(keys::kVersionCeiling, value);
  }
  if (!w.isOk()) return w.status().withContext("persisting the desired version ceiling");
  std::lock_guard lock(mu_);
  versionCeiling_ = target;
  return Status::ok();
}

void Fleet::reconcileLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || quiescing_ || !dirty_.empty(); });
    if (stopping_ || quiescing_) break;
    std::vector<std::string> ids(dirty_.begin(), dirty_.end());
    dirty_.clear();
    reconciling_ = true;
    lock.unlock();
    reconcileBatch(std::move(ids));
    lock.lock();
    reconciling_ = false;
    idleCv_.notify_all();
  }
}

void Fleet::reconcileBatch(std::vector<std::string> ids) {
  auto started = Clock::now();
  if (auto s = ensureVersionCeiling(static_cast<std::int64_t>(ids.size())); !s.isOk()) {
    common::log::error("reconcile postponed", {{"error", s.toString()}});
    std::unique_lock lock(mu_);
    for (auto& id : ids) dirty_.insert(std::move(id));
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    return;
  }
  struct Work {
    std::string id;
    std::int64_t version;
    std::string issuedAt;
    DesiredContent content;
  };
  ReconcileStats stats;
  stats.devices = ids.size();
  double composeMs = 0, signMs = 0;
  for (std::size_t off = 0; off < ids.size(); off += opts_.reconcileChunk) {
    std::vector<Work> work;
    auto t0 = Clock::now();
    {
      std::lock_guard lock(mu_);
      std::string issuedAt = common::formatRfc3339(opts_.clock->now());
      std::size_t end = std::min(ids.size(), off + opts_.reconcileChunk);
      for (std::size_t i = off; i < end; ++i) {
        auto it = devices_.find(ids[i]);
        if (it == devices_.end()) continue;
        DeviceState& d = *it->second;
        std::vector<DeploymentPtr> matching;
        matching.reserve(d.matches.size());
        for (const auto& m : d.matches) {
          const DeploymentState& dep = *deployments_.at(m);
          matching.push_back(dep.compiled);
          // depVersions and content may move below: recount the device at the next query.
          dep.markStale(&d);
        }
        DesiredContent content = composeDesired(matching);
        bool changed = content.hash != d.desiredHash;
        bool silent = d.desiredVersion == 0 && content.pods.empty() &&
                      content.credentials.empty();  // nothing ever sent, nothing to send
        if (changed && !silent) {
          d.desiredVersion = nextVersion_++;
          d.desiredIssuedAt = issuedAt;
          work.push_back({d.record.id, d.desiredVersion, issuedAt, content});
        }
        d.desiredHash = content.hash;
        for (auto dv = d.depVersions.begin(); dv != d.depVersions.end();) {
          dv = d.matches.contains(dv->first) ? std::next(dv) : d.depVersions.erase(dv);
        }
        for (const auto& dep : matching) {
          auto& dv = d.depVersions[dep->id()];
          if (dv.generation != dep->record.generation || (changed && dv.version == 0)) {
            dv = {dep->record.generation, d.desiredVersion};
          }
        }
        d.content = std::move(content);
        if (changed) notifyDevice(d, true);
      }
    }
    auto t1 = Clock::now();
    composeMs += std::chrono::duration<double, std::milli>(t1 - t0).count();
    // Sign on two threads (Ed25519 + canonical JSON is the fan-out's CPU cost) and hand every
    // few documents to the publisher as they are ready, so publishing overlaps signing.
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> signedCount{0};
    auto signer = [&] {
      std::vector<DesiredDoc> ready;
      auto flush = [&] {
        std::lock_guard lock(mu_);
        for (auto& doc : ready) {
          // A device deleted (or recomposed) meanwhile must not get this document.
          auto it = devices_.find(doc.deviceId);
          if (it == devices_.end() || it->second->desiredVersion != doc.version) continue;
          if (sink_ != nullptr) sink_->submit(std::move(doc));
        }
        ready.clear();
      };
      for (std::size_t i = next++; i < work.size(); i = next++) {
        const Work& w = work[i];
        auto signedDoc = proto::signDesiredJson(
            toDesiredJson(w.content, w.id, w.version, w.issuedAt), opts_.signingKey, signingKeyId_);
        if (!signedDoc.isOk()) {
          common::log::error("signing desired state failed",
                             {{"device", w.id}, {"error", signedDoc.status().toString()}});
          continue;
        }
        ready.push_back(DesiredDoc{w.id, w.version, std::move(*signedDoc),
                                   DesiredRecord{w.version, w.content.hash, w.issuedAt}, false});
        ++signedCount;
        if (ready.size() >= 16) flush();
      }
      flush();
    };
    if (work.size() >= 64) {
      std::thread helper(signer);
      signer();
      helper.join();
    } else {
      signer();
    }
    signMs += std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
    stats.changed += signedCount.load();
    if (metrics_->versions) metrics_->versions->Increment(static_cast<double>(signedCount.load()));
  }
  stats.composeMs = composeMs;
  stats.signMs = signMs;
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  if (metrics_->reconcile) metrics_->reconcile->Observe(secs);
  std::lock_guard lock(mu_);
  lastReconcile_ = stats;
  if (stats.changed > 0) {
    common::log::debug("reconciled", {{"devices", static_cast<std::int64_t>(stats.devices)},
                                      {"changed", static_cast<std::int64_t>(stats.changed)},
                                      {"composeMs", composeMs},
                                      {"signMs", signMs}});
  }
}

bool Fleet::waitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return idleCv_.wait_for(lock, timeout, [this] { return dirty_.empty() && !reconciling_; });
}

Fleet::ReconcileStats Fleet::lastReconcile() const {
  std::lock_guard lock(mu_);
  return lastReconcile_;
}

void Fleet::flushLastSeen() {
  if (dirtyLastSeenShards_.empty()) return;
  std::vector<Json> shards(kLastSeenShards, Json::object());
  for (const auto& [id, d] : devices_) {
    int s = shardOf(id);
    if (dirtyLastSeenShards_.contains(s) && d->lastSeenMs > 0) shards[s][id] = d->lastSeenMs;
  }
  for (int s : dirtyLastSeenShards_) {
    writer_->put(keys::lastSeenShard(s), common::dumpJson(shards[s]));
  }
  dirtyLastSeenShards_.clear();
}

void Fleet::flushLoop() {
  auto lastFlush = Clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    flushCv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    if (Clock::now() - lastFlush >= opts_.lastSeenFlushInterval) {
      flushLastSeen();
      lastFlush = Clock::now();
    }
    if (metrics_->devices) {
      metrics_->devices->Set(static_cast<double>(devices_.size()));
      metrics_->online->Set(onlineCount_);
      metrics_->deployments->Set(static_cast<double>(deployments_.size()));
      metrics_->pendingWrites->Set(static_cast<double>(writer_->queued()));
    }
  }
}

}  // namespace skiff::hub::fleet
