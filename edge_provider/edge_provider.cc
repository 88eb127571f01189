// The hub-backed provider.
#include "edge_provider/edge_provider.h"

#include <algorithm>
#include <random>

#include "common/daemon.h"
#include "common/label_selector.h"
#include "common/log.h"
#include "edge_provider/deployment_id.h"
#include "edge_provider/pod_status.h"

namespace skiff::edge_provider {

using common::jsonField;
using common::jsonString;
using common::Result;
using common::Status;
using common::StatusCode;
using virtual_node::NodeCondition;
using virtual_node::VirtualNodeSpec;

namespace {

std::string meta(const Json& pod, std::string_view key) {
  return jsonString(jsonField(pod, "metadata"), key);
}

std::string keyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string annotation(const hubpb::Deployment& d, std::string_view key) {
  auto it = d.annotations().find(std::string(key));
  return it == d.annotations().end() ? "" : it->second;
}

Json taintJson() {
  return Json::array(
      {{{"key", std::string(kProviderTaintKey)}, {"value", "skiff"}, {"effect", "NoSchedule"}}});
}

std::vector<NodeCondition> healthyPressureConditions() {
  return {{"MemoryPressure", "False", "SufficientMemory", "no memory pressure reported"},
          {"DiskPressure", "False", "NoDiskPressure", "no disk pressure reported"},
          {"PIDPressure", "False", "SufficientPID", "no PID pressure reported"},
          {"NetworkUnavailable", "False", "RouteCreated", "devices reach the hub over MQTT"}};
}

std::optional<protocol::Reported> reportedOf(const hubpb::Device& d) {
  if (d.reported_json().empty()) return std::nullopt;
  auto j = common::parseJson(d.reported_json());
  if (!j.isOk()) return std::nullopt;
  auto r = protocol::reportedFromJson(*j);
  if (!r.isOk()) return std::nullopt;
  return std::move(*r);
}

std::string formatMillis(std::int64_t unixMs) {
  if (unixMs <= 0) return "never";
  return common::formatRfc3339(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::milliseconds(unixMs))));
}

}  // namespace

EdgeProvider::EdgeProvider(HubClient& hub, virtual_node::ObjectReader& reader,
                           virtual_node::EventRecorder& events, const common::Clock& clock,
                           EdgeProviderOptions options)
    : hub_(hub), reader_(reader), events_(events), clock_(clock), opts_(std::move(options)) {}

EdgeProvider::~EdgeProvider() { stop(); }

void EdgeProvider::start() {
  devicesThread_ = std::jthread([this](std::stop_token st) { watchDevicesLoop(st); });
  deploymentsThread_ = std::jthread([this](std::stop_token st) { watchDeploymentsLoop(st); });
  fleetThread_ = std::jthread([this](std::stop_token st) { fleetLoop(st); });
}

void EdgeProvider::stop() {
  for (auto* t : {&devicesThread_, &deploymentsThread_, &fleetThread_}) {
    if (t->joinable()) t->request_stop();
  }
  for (auto* t : {&devicesThread_, &deploymentsThread_, &fleetThread_}) {
    if (t->joinable()) t->join();
  }
}

bool EdgeProvider::waitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return syncedCv_.wait_for(lock, timeout, [this] { return devicesSynced_ && deploymentsSynced_; });
}

void EdgeProvider::notifyPods(std::function<void(const std::string&, const std::string&)> cb) {
  podCb_ = std::move(cb);
}

void EdgeProvider::notifyNodes(std::function<void()> cb) { nodesCb_ = std::move(cb); }

void EdgeProvider::firePods(const std::vector<std::pair<std::string, std::string>>& pods) {
  if (!podCb_) return;
  for (const auto& [ns, name] : pods) podCb_(ns, name);
}

void EdgeProvider::fireNodes() {
  if (nodesCb_) nodesCb_();
}

bool EdgeProvider::backoff(std::stop_token st, int& failures) const {
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto d = opts_.watchMinBackoff * (1LL << std::min(failures, 16));
  if (d > opts_.watchMaxBackoff) d = opts_.watchMaxBackoff;
  ++failures;
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  return common::sleepFor(
      st, std::chrono::milliseconds(static_cast<long long>(d.count() * jitter(rng))));
}

std::string EdgeProvider::podKeyOfDeployment(const hubpb::Deployment& d) const {
  std::string ns = annotation(d, kPodNamespaceAnnotation);
  std::string name = annotation(d, kPodNameAnnotation);
  return ns.empty() || name.empty() ? "" : keyOf(ns, name);
}

// ---- hub watches ----------------------------------------------------------------------------

void EdgeProvider::watchDevicesLoop(std::stop_token st) {
  int failures = 0;
  while (!st.stop_requested()) {
    std::set<std::string> snapshot;
    bool inSnapshot = true;
    hubpb::WatchRequest req;
    auto onEvent = [&](const hubpb::DeviceEvent& ev) {
      std::vector<std::pair<std::string, std::string>> pods;
      bool nodesChanged = false;
      {
        std::lock_guard lock(mu_);
        devicesStreamUp_ = true;
        const std::string& id = ev.device().id();
        switch (ev.type()) {
          case hubpb::ADDED:
          case hubpb::MODIFIED: {
            if (inSnapshot) snapshot.insert(id);
            devices_[id] = ev.device();
            nodesChanged = true;
            break;
          }
          case hubpb::DELETED:
            devices_.erase(id);
            nodesChanged = true;
            break;
          case hubpb::SYNCED:
            for (auto it = devices_.begin(); it != devices_.end();) {
              it = snapshot.contains(it->first) ? std::next(it) : devices_.erase(it);
            }
            inSnapshot = false;
            devicesSynced_ = true;
            syncedCv_.notify_all();
            nodesChanged = true;
            break;
          default:
            break;
        }
        // Device changes matter to the pods whose deployments target it, and to removals.
        if (ev.type() != hubpb::SYNCED) {
          for (const auto& [did, d] : deployments_) {
            for (const auto& dm : d.status().devices()) {
              if (dm.device_id() == id) {
                std::string k = podKeyOfDeployment(d);
                if (!k.empty()) {
                  auto slash = k.find('/');
                  pods.emplace_back(k.substr(0, slash), k.substr(slash + 1));
                }
              }
            }
          }
        }
        auto done = completeRemovalsLocked();
        pods.insert(pods.end(), done.begin(), done.end());
      }
      failures = 0;
      firePods(pods);
      if (nodesChanged && (opts_.deviceMode || ev.type() == hubpb::SYNCED)) fireNodes();
      return true;
    };
    Status s = hub_.watchDevices(req, st, onEvent);
    if (st.stop_requested()) return;
    {
      std::lock_guard lock(mu_);
      devicesStreamUp_ = false;
    }
    common::log::warn("hub device watch ended, reconnecting", {{"error", s.toString()}});
    fireNodes();
    if (!backoff(st, failures)) return;
  }
}

void EdgeProvider::watchDeploymentsLoop(std::stop_token st) {
  int failures = 0;
  while (!st.stop_requested()) {
    std::set<std::string> snapshot;
    bool inSnapshot = true;
    hubpb::WatchRequest req;
    req.set_label_selector(std::string(kVirtualNodeLabel) + "=" + opts_.owner);
    auto onEvent = [&](const hubpb::DeploymentEvent& ev) {
      std::vector<std::pair<std::string, std::string>> pods;
      {
        std::lock_guard lock(mu_);
        deploymentsStreamUp_ = true;
        const hubpb::Deployment& d = ev.deployment();
        auto addPod = [&](const hubpb::Deployment& dep) {
          std::string k = podKeyOfDeployment(dep);
          if (k.empty()) return;
          auto slash = k.find('/');
          pods.emplace_back(k.substr(0, slash), k.substr(slash + 1));
        };
        switch (ev.type()) {
          case hubpb::ADDED:
          case hubpb::MODIFIED:
            if (inSnapshot) snapshot.insert(d.id());
            deployments_[d.id()] = d;
            addPod(d);
            break;
          case hubpb::DELETED:
            deployments_.erase(d.id());
            if (auto r = removals_.find(d.id()); r != removals_.end()) r->second.hubDeleted = true;
            addPod(d);
            break;
          case hubpb::SYNCED:
            for (auto it = deployments_.begin(); it != deployments_.end();) {
              if (snapshot.contains(it->first)) {
                ++it;
              } else {
                addPod(it->second);
                it = deployments_.erase(it);
              }
            }
            inSnapshot = false;
            deploymentsSynced_ = true;
            syncedCv_.notify_all();
            break;
          default:
            break;
        }
        auto done = completeRemovalsLocked();
        pods.insert(pods.end(), done.begin(), done.end());
      }
      failures = 0;
      firePods(pods);
      return true;
    };
    Status s = hub_.watchDeployments(req, st, onEvent);
    if (st.stop_requested()) return;
    {
      std::lock_guard lock(mu_);
      deploymentsStreamUp_ = false;
    }
    common::log::warn("hub deployment watch ended, reconnecting", {{"error", s.toString()}});
    if (!backoff(st, failures)) return;
  }
}

void EdgeProvider::fleetLoop(std::stop_token st) {
  do {
    auto f = hub_.getFleetStatus();
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      if (f.isOk()) {
        changed = !fleet_ || fleet_->SerializeAsString() != f->SerializeAsString() ||
                  !fleetError_.empty();
        fleet_ = *f;
        fleetError_.clear();
      } else {
        changed = fleetError_.empty();
        fleetError_ = f.status().message();
      }
    }
    if (!f.isOk()) common::log::warn("hub fleet status failed", {{"error", f.status().toString()}});
    if (changed) fireNodes();
  } while (common::sleepFor(st, opts_.fleetStatusInterval));
}

// ---- removals -------------------------------------------------------------------------------

bool EdgeProvider::deviceStillRunsLocked(const std::string& deploymentId) const {
  for (const auto& [id, d] : devices_) {
    if (!d.online()) continue;  // its retained desired state no longer has the pod
    auto rep = reportedOf(d);
    if (!rep) continue;
    // A pod stays in the report, terminating, until the device stopped and removed every one of
    // its containers (preStop hooks, SIGTERM, grace period).
    for (const auto& p : rep->pods) {
      if (p.deploymentId == deploymentId) return true;
    }
    for (const auto& m : rep->modules) {
      if (m.deploymentId == deploymentId) return true;
    }
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> EdgeProvider::completeRemovalsLocked() {
  std::vector<std::pair<std::string, std::string>> done;
  for (auto it = removals_.begin(); it != removals_.end();) {
    if (it->second.hubDeleted && !deployments_.contains(it->first) &&
        !deviceStillRunsLocked(it->first)) {
      common::log::info(
          "pod's modules are gone from every device",
          {{"pod", keyOf(it->second.ns, it->second.name)}, {"deployment", it->first}});
      done.emplace_back(it->second.ns, it->second.name);
      if (completed_.size() >= 10000) completed_.clear();
      completed_.insert(it->first);
      it = removals_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

// ---- pods -----------------------------------------------------------------------------------

std::optional<std::string> EdgeProvider::deviceIdOf(const Json& pod) const {
  if (!opts_.deviceMode) return std::nullopt;
  std::string node = jsonString(jsonField(pod, "spec"), "nodeName");
  if (!node.starts_with(opts_.deviceNodePrefix)) return std::string();
  return node.substr(opts_.deviceNodePrefix.size());
}

Status EdgeProvider::createPod(const Json& pod) { return apply(pod); }

Status EdgeProvider::updatePod(const Json& pod) { return apply(pod); }

Status EdgeProvider::apply(const Json& pod) {
  std::string ns = meta(pod, "namespace");
  std::string name = meta(pod, "name");
  std::string uid = meta(pod, "uid");
  std::string key = keyOf(ns, name);
  std::string id = deploymentIdFor(ns, name, uid);
  std::string hash = podMappingHash(pod);
  std::optional<std::string> deviceId;
  bool adopt = false;
  {
    std::lock_guard lock(mu_);
    if (!deploymentsSynced_) return common::unavailable("not yet synced with the hub");
    deviceId = deviceIdOf(pod);
    if (deviceId && !devices_.contains(*deviceId)) {
      return common::invalidArgument("node " + jsonString(jsonField(pod, "spec"), "nodeName") +
                                     " is not a device of this hub");
    }
    auto d = deployments_.find(id);
    adopt = d != deployments_.end() && annotation(d->second, kPodSpecHashAnnotation) == hash;
    PodEntry& e = pods_[key];
    if (meta(e.pod, "uid") != uid) e = PodEntry{};
    e.pod = pod;
    e.deploymentId = id;
    if (adopt) {
      // The hub already runs exactly this pod (a restarted virtual node): nothing to apply.
      e.applied = true;
      e.mappingHash = hash;
      e.mappingError.clear();
      e.hubError.clear();
    }
  }
  if (adopt) {
    firePods({{ns, name}});
    return Status::ok();
  }
  MappingContext ctx{&reader_, opts_.owner, deviceId};
  auto mapping = mapPod(pod, ctx);
  if (!mapping.isOk()) {
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      PodEntry& e = pods_[key];
      changed = e.mappingError != mapping.status().message();
      e.mappingError = mapping.status().message();
    }
    events_.event(pod, "Warning", "Failed", "Error: " + mapping.status().message());
    // Notify only a new error: a notification re-queues the pod at once, which would bypass the
    // controller's retry backoff and spin on a persistent error.
    if (changed) firePods({{ns, name}});
    return mapping.status();
  }
  bool warnNow = false;
  {
    std::lock_guard lock(mu_);
    PodEntry& e = pods_[key];
    e.mappingError.clear();
    warnNow = !mapping->warnings.empty() && e.warnedHash != hash;
    if (warnNow) e.warnedHash = hash;
  }
  if (warnNow) {
    std::string msg = "not applied on devices: ";
    for (std::size_t i = 0; i < mapping->warnings.size(); ++i) {
      msg += (i ? "; " : "") + mapping->warnings[i];
    }
    events_.event(pod, "Warning", "UnsupportedFields", msg);
  }
  auto applied = hub_.applyDeployment(mapping->deployment);
  bool errorChanged = false;
  {
    std::lock_guard lock(mu_);
    PodEntry& e = pods_[key];
    if (!applied.isOk()) {
      errorChanged = e.hubError != applied.status().message();
      e.hubError = applied.status().message();
    } else {
      e.hubError.clear();
      e.applied = true;
      e.mappingHash = hash;
      completed_.erase(id);
      // The watch brings the same object, possibly before this answer (a device may report
      // in between): the answer only fills in what the watch has not delivered yet; for the
      // same generation the watch's status is at least as new.
      auto cached = deployments_.find(id);
      if (cached == deployments_.end() || cached->second.generation() < applied->generation()) {
        deployments_[id] = *applied;
      }
      removals_.erase(id);
    }
  }
  if (!applied.isOk()) {
    if (applied.status().code() == StatusCode::kInvalidArgument) {
      events_.event(pod, "Warning", "Failed", "Error: " + applied.status().message());
    }
    if (errorChanged) firePods({{ns, name}});  // see the mapping error above
    return applied.status();
  }
  common::log::info("pod applied as hub deployment", {{"pod", key},
                                                      {"deployment", id},
                                                      {"generation", applied->generation()},
                                                      {"selector", mapping->selector}});
  firePods({{ns, name}});
  return Status::ok();
}

Status EdgeProvider::deletePod(const Json& pod) {
  std::string ns = meta(pod, "namespace");
  std::string name = meta(pod, "name");
  std::string uid = meta(pod, "uid");
  std::string id = deploymentIdFor(ns, name, uid);
  std::vector<std::string> offline;  // devices that stop the pod only when they come back
  {
    std::lock_guard lock(mu_);
    auto e = pods_.find(keyOf(ns, name));
    if (e != pods_.end() && meta(e->second.pod, "uid") == uid) pods_.erase(e);
    if (completed_.contains(id) && !deployments_.contains(id)) return Status::ok();
    Removal& r = removals_[id];
    r.ns = ns;
    r.name = name;
    r.uid = uid;
    if (r.hubDeleted) return Status::ok();
    if (auto d = deployments_.find(id); d != deployments_.end()) {
      for (const auto& dm : d->second.status().devices()) {
        if (!dm.online()) offline.push_back(dm.device_id());
      }
    }
  }
  Status s = hub_.deleteDeployment(id);
  if (!s.isOk() && s.code() != StatusCode::kNotFound) return s;
  if (!offline.empty()) {
    // Kubernetes' rule for an unreachable node: the pod object goes; the device stops the
    // containers when it reconnects (its retained desired state no longer has the pod).
    std::string list;
    for (std::size_t i = 0; i < offline.size() && i < 10; ++i) list += (i ? ", " : "") + offline[i];
    if (offline.size() > 10) list += " and " + std::to_string(offline.size() - 10) + " more";
    events_.event(pod, "Warning", "DeviceOffline",
                  "deleted while device" + std::string(offline.size() > 1 ? "s " : " ") + list +
                      (offline.size() > 1 ? " are" : " is") +
                      " offline: the pod's containers are stopped there when the device "
                      "reconnects");
  }
  std::vector<std::pair<std::string, std::string>> done;
  {
    std::lock_guard lock(mu_);
    auto r = removals_.find(id);
    if (r != removals_.end()) r->second.hubDeleted = true;
    deployments_.erase(id);
    done = completeRemovalsLocked();
  }
  common::log::info("deleted hub deployment of pod",
                    {{"pod", keyOf(ns, name)}, {"deployment", id}});
  firePods(done);
  return Status::ok();
}

Result<Json> EdgeProvider::getPod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto e = pods_.find(keyOf(ns, name));
  if (e != pods_.end() && e->second.applied) return e->second.pod;
  for (const auto& [id, r] : removals_) {
    if (r.ns == ns && r.name == name) {
      return Json{{"metadata", {{"namespace", ns}, {"name", name}, {"uid", r.uid}}},
                  {"status", {{"phase", "Terminating"}}}};
    }
  }
  return common::notFound("pod " + keyOf(ns, name) + " is not running on the hub");
}

Result<virtual_node::PodStatusReport> EdgeProvider::getPodStatus(const std::string& ns,
                                                                 const std::string& name) {
  std::vector<DeviceNotice> fresh;
  Json pod;
  virtual_node::PodStatusReport report;
  {
    std::lock_guard lock(mu_);
    auto e = pods_.find(keyOf(ns, name));
    if (e == pods_.end()) return common::notFound("pod " + keyOf(ns, name) + " is not known");
    PodEntry& entry = e->second;
    auto d = deployments_.find(entry.deploymentId);
    StatusInput in;
    in.pod = &entry.pod;
    in.deployment = entry.applied && d != deployments_.end() ? &d->second : nullptr;
    in.mappingError = entry.mappingError;
    in.hubError = entry.hubError;
    in.deviceMode = opts_.deviceMode;
    in.now = clock_.now();
    StatusOutput out = computePodStatus(in);
    report.status = std::move(out.status);
    if (in.deployment) report.annotations[std::string(kDevicesAnnotation)] = out.devicesAnnotation;
    std::set<std::string> active;
    for (auto& n : out.notices) {
      active.insert(n.key);
      if (!entry.notices.contains(n.key)) fresh.push_back(std::move(n));
    }
    entry.notices = std::move(active);
    pod = entry.pod;
  }
  for (const auto& n : fresh) events_.event(pod, n.type, n.reason, n.message);
  return report;
}

Result<std::vector<Json>> EdgeProvider::getPods() {
  std::lock_guard lock(mu_);
  if (!deploymentsSynced_) return common::unavailable("not yet synced with the hub");
  std::vector<Json> out;
  std::set<std::string> seen;
  for (const auto& [id, d] : deployments_) {
    std::string ns = annotation(d, kPodNamespaceAnnotation);
    std::string name = annotation(d, kPodNameAnnotation);
    if (ns.empty() || name.empty()) continue;
    out.push_back(
        {{"metadata",
          {{"namespace", ns}, {"name", name}, {"uid", annotation(d, kPodUidAnnotation)}}}});
    seen.insert(id);
  }
  for (const auto& [id, r] : removals_) {
    if (seen.contains(id)) continue;
    out.push_back({{"metadata", {{"namespace", r.ns}, {"name", r.name}, {"uid", r.uid}}}});
  }
  return out;
}

// ---- nodes ----------------------------------------------------------------------------------

Result<std::vector<VirtualNodeSpec>> EdgeProvider::nodes() {
  std::lock_guard lock(mu_);
  if (!devicesSynced_) return common::unavailable("not yet synced with the hub");
  bool hubUp = devicesStreamUp_ && fleet_.has_value() && fleetError_.empty();
  std::vector<VirtualNodeSpec> out;
  std::map<std::string, std::string> base = {
      {"type", "virtual-kubelet"}, {"kubernetes.io/role", "agent"}, {"kubernetes.io/os", "linux"}};
  if (!opts_.deviceMode) {
    VirtualNodeSpec n;
    n.name = opts_.owner;
    n.labels = base;
    n.labels["kubernetes.io/hostname"] = opts_.owner;
    n.labels["skiff.io/fleet"] = "true";
    n.taints = taintJson();
    std::int64_t cpu = fleet_ ? fleet_->cpu_millis() : 0;
    std::int64_t mem = fleet_ ? fleet_->memory_bytes() : 0;
    std::int64_t disk = fleet_ ? fleet_->disk_bytes() : 0;
    n.capacity = {{"cpu", std::to_string(cpu) + "m"},
                  {"memory", std::to_string(mem)},
                  {"ephemeral-storage", std::to_string(disk)},
                  {"pods", std::to_string(opts_.maxPods)}};
    n.allocatable = n.capacity;
    NodeCondition ready{"Ready", "True", "HubReady",
                        "hub reachable, broker connected, " +
                            std::to_string(fleet_ ? fleet_->online() : 0) + " of " +
                            std::to_string(fleet_ ? fleet_->devices() : 0) + " devices online"};
    if (!hubUp) {
      ready = {"Ready", "False", "HubUnreachable",
               "the hub cannot be reached" + (fleetError_.empty() ? "" : ": " + fleetError_)};
    } else if (!fleet_->broker_connected()) {
      ready = {"Ready", "False", "BrokerDisconnected",
               "the hub is not connected to the MQTT broker " + fleet_->broker_url()};
    }
    n.conditions = {ready};
    for (auto& c : healthyPressureConditions()) n.conditions.push_back(c);
    std::set<std::string> arches;
    int online = 0;
    for (const auto& [id, d] : devices_) {
      if (!d.online()) continue;
      ++online;
      if (auto rep = reportedOf(d); rep && !rep->facts.arch.empty()) arches.insert(rep->facts.arch);
    }
    n.nodeInfo = {{"architecture", arches.size() == 1 ? *arches.begin() : ""},
                  {"osImage", "Skiff fleet: " + std::to_string(online) + " of " +
                                  std::to_string(devices_.size()) + " devices online"},
                  {"containerRuntimeVersion",
                   "skiff-hub://" + std::string(fleet_ ? fleet_->broker_url() : "")}};
    out.push_back(std::move(n));
    return out;
  }
  for (const auto& [id, d] : devices_) {
    VirtualNodeSpec n;
    n.name = opts_.deviceNodePrefix + id;
    n.labels = base;
    n.labels["kubernetes.io/hostname"] = n.name;
    n.labels[std::string(kDeviceIdLabel)] = id;
    for (const auto& [k, v] : d.labels()) {
      // Only plain keys fit under the device.skiff.io/ prefix.
      std::string key = std::string(kDeviceLabelPrefix) + k;
      if (k.find('/') != std::string::npos || !common::validateLabelKey(key).isOk() ||
          !common::validateLabelValue(v).isOk()) {
        continue;
      }
      n.labels[key] = v;
    }
    n.taints = taintJson();
    auto rep = reportedOf(d);
    protocol::DeviceFacts facts = rep ? rep->facts : protocol::DeviceFacts{};
    if (!facts.arch.empty()) n.labels["kubernetes.io/arch"] = facts.arch;
    n.capacity = {{"cpu", std::to_string(facts.cpus)},
                  {"memory", std::to_string(facts.memoryBytes)},
                  {"ephemeral-storage", std::to_string(facts.diskBytes)},
                  {"pods", std::to_string(opts_.maxPods)}};
    n.allocatable = n.capacity;
    NodeCondition ready{"Ready", "True", "DeviceOnline", "device " + id + " is online"};
    if (!hubUp) {
      ready = {"Ready", "Unknown", "HubUnreachable",
               "the hub cannot be reached; device presence is unknown"};
    } else if (!d.enrolled()) {
      ready = {"Ready", "False", "DeviceNotEnrolled", "device " + id + " has not enrolled yet"};
    } else if (!d.online()) {
      ready = {
          "Ready", "False", "DeviceOffline",
          "device " + id + " is offline (last seen " + formatMillis(d.last_seen_unix_ms()) + ")"};
    }
    n.conditions = {ready};
    for (auto& c : healthyPressureConditions()) n.conditions.push_back(c);
    if (!facts.hostname.empty()) n.addresses.emplace_back("Hostname", facts.hostname);
    n.nodeInfo = {{"architecture", facts.arch},
                  {"operatingSystem", facts.os.empty() ? "linux" : facts.os},
                  {"osImage", facts.osRelease},
                  {"kernelVersion", facts.kernel},
                  {"containerRuntimeVersion", facts.engine},
                  {"machineID", id}};
    out.push_back(std::move(n));
  }
  return out;
}

// ---- logs -----------------------------------------------------------------------------------

Status EdgeProvider::getContainerLogs(const std::string& ns, const std::string& podName,
                                      const std::string& container,
                                      const virtual_node::LogOptions& opts,
                                      const std::function<bool(std::string_view)>& write) {
  if (opts.previous) {
    return common::invalidArgument(
        "previous container logs are not available from devices (the agent keeps the current "
        "container's log only)");
  }
  std::string device;
  std::string header;
  std::string module = moduleNameFor(podName, container);
  {
    std::lock_guard lock(mu_);
    auto e = pods_.find(keyOf(ns, podName));
    if (e == pods_.end() || !e->second.applied) {
      return common::notFound("pod " + keyOf(ns, podName) + " is not running on the hub yet");
    }
    const Json& pod = e->second.pod;
    if (auto id = deviceIdOf(pod)) {
      device = *id;
    } else {
      auto d = deployments_.find(e->second.deploymentId);
      if (d == deployments_.end()) return common::notFound("pod's deployment is not on the hub");
      std::vector<std::string> targeted;
      std::string firstRunning;
      std::string firstOnline;
      for (const auto& dm : d->second.status().devices()) {
        targeted.push_back(dm.device_id());
        if (!dm.online()) continue;
        if (firstOnline.empty()) firstOnline = dm.device_id();
        auto mods = common::parseJson(dm.modules_json());
        if (firstRunning.empty() && mods.isOk() && mods->is_array()) {
          for (const auto& m : *mods) {
            if (common::jsonString(m, "name") == module &&
                common::jsonString(m, "state") == "running") {
              firstRunning = dm.device_id();
            }
          }
        }
      }
      std::sort(targeted.begin(), targeted.end());
      std::string chosen =
          jsonString(jsonField(jsonField(pod, "metadata"), "annotations"), kLogsDeviceAnnotation);
      if (!chosen.empty()) {
        if (std::find(targeted.begin(), targeted.end(), chosen) == targeted.end()) {
          return common::notFound("device " + chosen + " (annotation " +
                                  std::string(kLogsDeviceAnnotation) +
                                  ") is not targeted by this pod");
        }
        device = chosen;
      } else {
        device = !firstRunning.empty() ? firstRunning : firstOnline;
      }
      if (device.empty()) {
        return common::unavailable(targeted.empty() ? "no device is targeted by this pod"
                                                    : "no targeted device is online");
      }
      header = "==> device " + device + " (" + std::to_string(targeted.size()) +
               " targeted; choose with: kubectl annotate pod " + podName + " " +
               std::string(kLogsDeviceAnnotation) + "=<device>) <==\n";
    }
  }
  if (!header.empty() && !write(header)) return Status::ok();
  hubpb::LogsRequest req;
  req.set_device_id(device);
  req.set_module(module);
  req.set_follow(opts.follow);
  req.set_timestamps(opts.timestamps);
  if (opts.tailLines) req.set_tail_lines(*opts.tailLines);
  if (opts.sinceSeconds) req.set_since_seconds(*opts.sinceSeconds);
  return hub_.streamLogs(req, write);
}

}  // namespace skiff::edge_provider
