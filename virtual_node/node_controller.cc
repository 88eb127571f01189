// Node registration, status and Lease renewal.
#include "virtual_node/node_controller.h"

#include "common/log.h"

namespace skiff::virtual_node {

using common::Status;
using common::StatusCode;
namespace res = kube::resources;

namespace {
constexpr const char* kLeaseNamespace = "kube-node-lease";

bool sameTaint(const Json& a, const Json& b) {
  return common::jsonString(a, "key") == common::jsonString(b, "key") &&
         common::jsonString(a, "effect") == common::jsonString(b, "effect");
}
}  // namespace

NodeController::NodeController(kube::KubeClient& client, NodeProvider& provider,
                               const common::Clock& clock, NodeControllerOptions options)
    : client_(client), provider_(provider), clock_(clock), opts_(std::move(options)) {}

NodeController::~NodeController() { stop(); }

void NodeController::setNodeRemovedHook(std::function<void(const std::string&)> hook) {
  removedHook_ = std::move(hook);
}

void NodeController::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void NodeController::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    poke();
    thread_.join();
  }
}

void NodeController::poke() {
  std::lock_guard lock(mu_);
  poked_ = true;
  cv_.notify_all();
}

bool NodeController::ownsNode(const std::string& name) const {
  std::lock_guard lock(mu_);
  return current_.contains(name);
}

std::set<std::string> NodeController::nodeNames() const {
  std::lock_guard lock(mu_);
  return current_;
}

bool NodeController::waitForRegistration(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return registeredCv_.wait_for(lock, timeout, [this] { return registeredOnce_; });
}

void NodeController::run(std::stop_token st) {
  while (!st.stop_requested()) {
    syncOnce();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, st, std::chrono::seconds(1), [this] { return poked_; });
    poked_ = false;
  }
}

Status NodeController::loadOwnedNodes() {
  std::string sel = std::string(kOwnerLabel) + "=" + opts_.owner;
  SKIFF_ASSIGN_OR_RETURN(
      Json list, client_.get(res::kNodes.path("") + "?labelSelector=" + kube::queryEscape(sel)));
  owned_.clear();
  if (list.contains("items") && list["items"].is_array()) {
    for (const auto& n : list["items"]) {
      owned_.insert(common::jsonString(common::jsonField(n, "metadata"), "name"));
    }
  }
  ownedLoaded_ = true;
  ownedLoadedAt_ = clock_.steadyNow();
  return Status::ok();
}

void NodeController::syncOnce() {
  auto specs = provider_.nodes();
  if (!specs.isOk()) {
    common::log::debug("provider nodes unavailable", {{"error", specs.status().toString()}});
    return;
  }
  std::set<std::string> names;
  for (const auto& s : *specs) names.insert(s.name);
  {
    std::lock_guard lock(mu_);
    current_ = names;
  }
  auto now = clock_.steadyNow();
  bool fullSync = !ownedLoaded_ || now - ownedLoadedAt_ >= opts_.statusReportInterval;
  if (fullSync) {
    if (Status s = loadOwnedNodes(); !s.isOk()) {
      common::log::warn("listing our nodes failed", {{"error", s.toString()}});
      return;
    }
    // Re-verify registrations (labels, taints) at the same pace as the heartbeat.
    for (auto& [name, st] : states_) st.registered = false;
  }
  bool allOk = true;
  for (const auto& spec : *specs) {
    NodeState& st = states_[spec.name];
    Status s = ensureRegistered(spec, st);
    if (s.isOk()) s = syncStatus(spec, st, false);
    if (s.isOk()) s = renewLease(spec, st);
    if (!s.isOk()) {
      allOk = false;
      common::log::warn("node sync failed", {{"node", spec.name}, {"error", s.toString()}});
      if (s.code() == StatusCode::kNotFound) st.registered = false;  // deleted under us
      continue;
    }
    owned_.insert(spec.name);
  }
  std::vector<std::string> stale;
  for (const auto& n : owned_) {
    if (!names.contains(n)) stale.push_back(n);
  }
  for (const auto& n : stale) {
    common::log::info("provider no longer backs node, removing it", {{"node", n}});
    if (Status s = removeNode(n); !s.isOk()) {
      common::log::warn("removing node failed", {{"node", n}, {"error", s.toString()}});
      continue;
    }
    owned_.erase(n);
  }
  for (auto it = states_.begin(); it != states_.end();) {
    it = names.contains(it->first) ? std::next(it) : states_.erase(it);
  }
  if (allOk) {
    std::lock_guard lock(mu_);
    if (!registeredOnce_) {
      registeredOnce_ = true;
      registeredCv_.notify_all();
    }
  }
}

Status NodeController::ensureRegistered(const VirtualNodeSpec& spec, NodeState& st) {
  std::map<std::string, std::string> labels = spec.labels;
  labels[std::string(kOwnerLabel)] = opts_.owner;
  if (st.registered && st.labels == labels) return Status::ok();
  Json managed = Json::array();
  for (const auto& [k, v] : labels) managed.push_back(k);
  std::string managedText = common::dumpJson(managed);

  std::string path = res::kNodes.path("", spec.name);
  auto current = client_.get(path);
  if (!current.isOk() && current.status().code() != StatusCode::kNotFound) {
    return current.status();
  }
  if (!current.isOk()) {
    Json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata",
                  {{"name", spec.name},
                   {"labels", labels},
                   {"annotations", {{std::string(kManagedLabelsAnnotation), managedText}}}}},
                 {"spec", {{"taints", spec.taints}}},
                 {"status", statusFor(spec, st)}};
    auto created = client_.create(res::kNodes.path(""), node);
    if (!created.isOk() && created.status().code() != StatusCode::kAlreadyExists) {
      return created.status();
    }
    if (!created.isOk()) return created.status();  // raced with another writer: next pass
    common::log::info("registered node", {{"node", spec.name}});
    st.uid = common::jsonString(common::jsonField(*created, "metadata"), "uid");
    st.registered = true;
    st.labels = labels;
    st.lastStatus = Json();  // write status through the status subresource too
    return Status::ok();
  }
  const Json& meta = common::jsonField(*current, "metadata");
  Json patch = {{"metadata", {{"resourceVersion", common::jsonString(meta, "resourceVersion")}}}};
  Json labelPatch = Json::object();
  const Json& existing = common::jsonField(meta, "labels");
  for (const auto& [k, v] : labels) {
    const Json& have = common::jsonField(existing, k);
    if (!have.is_string() || have.get<std::string>() != v) labelPatch[k] = v;
  }
  // Labels this virtual node set before and no longer wants (a device label removed on the hub).
  const std::string managedBefore = common::jsonString(common::jsonField(meta, "annotations"),
                                                       std::string(kManagedLabelsAnnotation));
  auto previous = common::parseJson(managedBefore.empty() ? "[]" : managedBefore);
  if (previous.isOk() && previous->is_array()) {
    for (const auto& k : *previous) {
      if (k.is_string() && !labels.contains(k.get<std::string>()) && existing.is_object() &&
          existing.contains(k.get<std::string>())) {
        labelPatch[k.get<std::string>()] = nullptr;
      }
    }
  }
  bool changed = !labelPatch.empty();
  if (changed) patch["metadata"]["labels"] = labelPatch;
  if (managedBefore != managedText) {
    patch["metadata"]["annotations"] = {{std::string(kManagedLabelsAnnotation), managedText}};
    changed = true;
  }
  Json taints = common::jsonField(common::jsonField(*current, "spec"), "taints");
  if (!taints.is_array()) taints = Json::array();
  bool taintsChanged = false;
  for (const auto& want : spec.taints) {
    bool has = false;
    for (const auto& t : taints) has = has || sameTaint(t, want);
    if (!has) {
      taints.push_back(want);
      taintsChanged = true;
    }
  }
  if (taintsChanged) {
    patch["spec"] = {{"taints", taints}};
    changed = true;
  }
  if (changed) {
    auto r = client_.patch(path, patch);
    if (!r.isOk()) return r.status();
    common::log::info("updated node registration", {{"node", spec.name}});
  }
  st.uid = common::jsonString(meta, "uid");
  st.registered = true;
  st.labels = labels;
  return Status::ok();
}

Json NodeController::statusFor(const VirtualNodeSpec& spec, NodeState& st) const {
  std::string now = common::formatRfc3339(clock_.now());
  Json conditions = Json::array();
  for (const auto& c : spec.conditions) {
    auto prev = st.conditionStatus.find(c.type);
    std::string ltt = prev != st.conditionStatus.end() && prev->second == c.status
                          ? st.transitionTimes.at(c.type)
                          : now;
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"lastHeartbeatTime", now},
                          {"lastTransitionTime", ltt}});
  }
  Json addresses = Json::array();
  if (!opts_.kubeletAddress.empty()) {
    addresses.push_back({{"type", "InternalIP"}, {"address", opts_.kubeletAddress}});
  }
  for (const auto& [type, addr] : spec.addresses) {
    if (type == "InternalIP" && addr == opts_.kubeletAddress) continue;
    addresses.push_back({{"type", type}, {"address", addr}});
  }
  Json nodeInfo = {{"machineID", ""},
                   {"systemUUID", ""},
                   {"bootID", ""},
                   {"kernelVersion", ""},
                   {"osImage", ""},
                   {"containerRuntimeVersion", ""},
                   {"kubeletVersion", opts_.kubeletVersion},
                   {"kubeProxyVersion", ""},
                   {"operatingSystem", "linux"},
                   {"architecture", ""}};
  for (const auto& [k, v] : spec.nodeInfo.items()) nodeInfo[k] = v;
  return {{"capacity", spec.capacity},
          {"allocatable", spec.allocatable},
          {"conditions", conditions},
          {"addresses", addresses},
          {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", opts_.kubeletPort}}}}},
          {"nodeInfo", nodeInfo}};
}

Status NodeController::syncStatus(const VirtualNodeSpec& spec, NodeState& st, bool force) {
  Json status = statusFor(spec, st);
  Json content = status;
  for (auto& c : content["conditions"]) {
    c.erase("lastHeartbeatTime");
    c.erase("lastTransitionTime");
  }
  auto now = clock_.steadyNow();
  bool due = now - st.lastStatusAt >= opts_.statusReportInterval;
  if (!force && !due && content == st.lastStatus) return Status::ok();
  auto r = client_.patch(res::kNodes.path("", spec.name, "status"), Json{{"status", status}});
  if (!r.isOk()) return r.status();
  ++statusUpdates_;
  st.lastStatus = content;
  st.lastStatusAt = now;
  for (const auto& c : status["conditions"]) {
    st.conditionStatus[c["type"]] = c["status"];
    st.transitionTimes[c["type"]] = c["lastTransitionTime"];
  }
  return Status::ok();
}

Status NodeController::renewLease(const VirtualNodeSpec& spec, NodeState& st) {
  auto now = clock_.steadyNow();
  if (st.lastLeaseAt != std::chrono::steady_clock::time_point{} &&
      now - st.lastLeaseAt < opts_.leaseRenewInterval) {
    return Status::ok();
  }
  std::string path = res::kLeases.path(kLeaseNamespace, spec.name);
  std::string renew = common::formatRfc3339Micro(clock_.now());
  long long seconds = (opts_.leaseDuration.count() + 999) / 1000;
  common::Result<Json> current =
      st.lease.is_object() ? common::Result<Json>(st.lease) : client_.get(path);
  if (!current.isOk() && current.status().code() != StatusCode::kNotFound) {
    return current.status();
  }
  common::Result<Json> written = Json();
  if (!current.isOk()) {
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", spec.name}, {"namespace", kLeaseNamespace}}},
                  {"spec",
                   {{"holderIdentity", spec.name},
                    {"leaseDurationSeconds", seconds},
                    {"acquireTime", renew},
                    {"renewTime", renew}}}};
    if (!st.uid.empty()) {
      // Deleted with its Node by the garbage collector, as the kubelet's Lease.
      lease["metadata"]["ownerReferences"] = Json::array(
          {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", spec.name}, {"uid", st.uid}}});
    }
    written = client_.create(res::kLeases.path(kLeaseNamespace), lease);
  } else {
    Json lease = *current;
    lease["spec"]["holderIdentity"] = spec.name;
    lease["spec"]["leaseDurationSeconds"] = seconds;
    lease["spec"]["renewTime"] = renew;
    written = client_.update(path, lease);
  }
  if (!written.isOk()) {
    st.lease = Json();  // conflict or gone: read it again next time
    return written.status();
  }
  st.lease = *written;
  ++leaseRenewals_;
  st.lastLeaseAt = now;
  return Status::ok();
}

Status NodeController::removeNode(const std::string& name) {
  if (removedHook_) removedHook_(name);
  auto l = client_.remove(res::kLeases.path(kLeaseNamespace, name));
  if (!l.isOk() && l.status().code() != StatusCode::kNotFound) return l.status();
  auto n = client_.remove(res::kNodes.path("", name));
  if (!n.isOk() && n.status().code() != StatusCode::kNotFound) return n.status();
  return Status::ok();
}

}  // namespace skiff::virtual_node
