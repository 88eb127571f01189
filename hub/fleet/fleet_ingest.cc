// Fleet: what devices send (reported state, presence, metrics) and the desired-state reconciler
// and flusher threads.
#include "hub/fleet/fleet_internal.h"

namespace skiff::hub::fleet {

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
  std::optional<proto::Reported> before = std::move(d.reported);
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
  notifyReported(d, before);
  return std::nullopt;
}

void Fleet::notifyReported(const DeviceState& d, const std::optional<proto::Reported>& before) {
  if (!feed_.hasSubscribers()) return;
  const proto::Reported& after = *d.reported;
  if (!before || before->desiredError != after.desiredError || before->facts != after.facts) {
    notifyDevice(d, true);
    return;
  }
  notifyDevice(d, false);
  // Per deployment: its pods' and containers' statuses in each report, and whether the report
  // applies the desired version that carried its generation. A device with many pods (one hub
  // deployment per Kubernetes pod) reports one pod's change; the watchers of its other
  // deployments have nothing to learn from that.
  struct Part {
    std::vector<const proto::PodStatus*> pods;
    std::vector<const proto::ModuleStatus*> modules;
    bool operator==(const Part& o) const {
      auto same = [](const auto& a, const auto& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                          [](const auto* x, const auto* y) { return *x == *y; });
      };
      return same(pods, o.pods) && same(modules, o.modules);
    }
  };
  auto parts = [](const proto::Reported& r) {
    std::map<std::string_view, Part> out;
    for (const auto& p : r.pods) out[p.deploymentId].pods.push_back(&p);
    for (const auto& m : r.modules) out[m.deploymentId].modules.push_back(&m);
    return out;
  };
  const auto was = parts(*before);
  const auto now = parts(after);
  static const Part kNone;
  for (const auto& id : d.matches) {
    auto w = was.find(id);
    auto n = now.find(id);
    bool changed = !((w == was.end() ? kNone : w->second) == (n == now.end() ? kNone : n->second));
    if (!changed) {
      auto dv = d.depVersions.find(id);
      std::int64_t required = dv == d.depVersions.end() ? 0 : dv->second.version;
      changed = (required > 0 && before->appliedVersion >= required) !=
                (required > 0 && after.appliedVersion >= required);
    }
    if (changed) feed_.notify(ChangeKind::kDeployment, id);
  }
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
