// See fake_provider.h.
#include "tests/virtual_node/fake_provider.h"

namespace skiff::test {

namespace {
std::string keyOf(const Json& pod) {
  return pod["metadata"].value("namespace", "") + "/" + pod["metadata"].value("name", "");
}
}  // namespace

virtual_node::VirtualNodeSpec testNodeSpec(const std::string& name,
                                           std::map<std::string, std::string> labels) {
  virtual_node::VirtualNodeSpec n;
  n.name = name;
  n.labels = std::move(labels);
  n.labels["type"] = "virtual-kubelet";
  n.taints = Json::array(
      {{{"key", "virtual-kubelet.io/provider"}, {"value", "fake"}, {"effect", "NoSchedule"}}});
  n.capacity = {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}};
  n.allocatable = n.capacity;
  n.conditions = {{"Ready", "True", "FakeReady", "fake provider is ready"}};
  n.addresses = {{"Hostname", name + ".local"}};
  n.nodeInfo = {{"architecture", "arm64"}};
  return n;
}

common::Status FakeProvider::createPod(const Json& pod) {
  {
    std::lock_guard lock(mu_);
    calls_.push_back("create " + keyOf(pod));
    pods_[keyOf(pod)] = pod;
  }
  notify(pod["metadata"]["namespace"], pod["metadata"]["name"]);
  return common::Status::ok();
}

common::Status FakeProvider::updatePod(const Json& pod) {
  {
    std::lock_guard lock(mu_);
    calls_.push_back("update " + keyOf(pod));
    pods_[keyOf(pod)] = pod;
  }
  notify(pod["metadata"]["namespace"], pod["metadata"]["name"]);
  return common::Status::ok();
}

common::Status FakeProvider::deletePod(const Json& pod) {
  std::string key = keyOf(pod);
  bool complete = false;
  {
    std::lock_guard lock(mu_);
    calls_.push_back("delete " + key);
    auto it = pods_.find(key);
    if (it != pods_.end()) {
      if (autoComplete_) {
        pods_.erase(it);
        complete = true;
      } else {
        removing_[key] = it->second;
        pods_.erase(it);
      }
    }
  }
  if (complete) notify(pod["metadata"]["namespace"], pod["metadata"]["name"]);
  return common::Status::ok();
}

common::Result<Json> FakeProvider::getPod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(ns + "/" + name);
  if (it != pods_.end()) return it->second;
  auto r = removing_.find(ns + "/" + name);
  if (r != removing_.end()) return r->second;
  return common::notFound("not running");
}

common::Result<virtual_node::PodStatusReport> FakeProvider::getPodStatus(const std::string& ns,
                                                                         const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(ns + "/" + name);
  if (it == pods_.end()) return common::notFound("not running");
  virtual_node::PodStatusReport r;
  Json statuses = Json::array();
  for (const auto& c : it->second["spec"]["containers"]) {
    statuses.push_back({{"name", c["name"]},
                        {"image", c["image"]},
                        {"imageID", "sha256:fake"},
                        {"ready", true},
                        {"restartCount", 0},
                        {"started", true},
                        {"state", {{"running", {{"startedAt", "2026-12-01T10:00:00Z"}}}}}});
  }
  r.status = {{"phase", "Running"},
              {"conditions", Json::array({{{"type", "Ready"},
                                           {"status", "True"},
                                           {"lastTransitionTime", "2026-12-01T10:00:00Z"}}})},
              {"containerStatuses", statuses}};
  r.annotations["fake.skiff.io/where"] = "nowhere";
  return r;
}

common::Result<std::vector<Json>> FakeProvider::getPods() {
  std::lock_guard lock(mu_);
  std::vector<Json> out;
  for (const auto& [k, p] : pods_) out.push_back(p);
  for (const auto& [k, p] : removing_) out.push_back(p);
  return out;
}

void FakeProvider::notifyPods(std::function<void(const std::string&, const std::string&)> cb) {
  std::lock_guard lock(mu_);
  podCb_ = std::move(cb);
}

common::Result<std::vector<virtual_node::VirtualNodeSpec>> FakeProvider::nodes() {
  std::lock_guard lock(mu_);
  if (!nodesSet_) return common::unavailable("no nodes yet");
  return nodes_;
}

void FakeProvider::notifyNodes(std::function<void()> cb) {
  std::lock_guard lock(mu_);
  nodesCb_ = std::move(cb);
}

common::Status FakeProvider::getContainerLogs(const std::string& ns, const std::string& pod,
                                              const std::string& container,
                                              const virtual_node::LogOptions& opts,
                                              const std::function<bool(std::string_view)>& write) {
  std::string text;
  {
    std::lock_guard lock(mu_);
    lastLogOptions_ = opts;
    if (opts.previous) return common::invalidArgument("previous logs are not kept");
    if (!pods_.contains(ns + "/" + pod)) return common::notFound("pod not running");
    auto it = logs_.find(container);
    if (it == logs_.end()) return common::unavailable("device offline");
    text = it->second;
  }
  write(text);
  return common::Status::ok();
}

void FakeProvider::setNodes(std::vector<virtual_node::VirtualNodeSpec> nodes) {
  std::function<void()> cb;
  {
    std::lock_guard lock(mu_);
    nodes_ = std::move(nodes);
    nodesSet_ = true;
    cb = nodesCb_;
  }
  if (cb) cb();
}

void FakeProvider::setAutoCompleteRemoval(bool on) {
  std::lock_guard lock(mu_);
  autoComplete_ = on;
}

void FakeProvider::completeRemoval(const std::string& ns, const std::string& name) {
  {
    std::lock_guard lock(mu_);
    removing_.erase(ns + "/" + name);
  }
  notify(ns, name);
}

void FakeProvider::adopt(const Json& pod) {
  std::lock_guard lock(mu_);
  pods_[keyOf(pod)] = pod;
}

void FakeProvider::setLog(const std::string& container, std::string text) {
  std::lock_guard lock(mu_);
  logs_[container] = std::move(text);
}

std::vector<std::string> FakeProvider::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int FakeProvider::count(const std::string& prefix) const {
  int n = 0;
  for (const auto& c : calls()) n += c.starts_with(prefix);
  return n;
}

std::optional<virtual_node::LogOptions> FakeProvider::lastLogOptions() const {
  std::lock_guard lock(mu_);
  return lastLogOptions_;
}

bool FakeProvider::running(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  return pods_.contains(ns + "/" + name);
}

void FakeProvider::notify(const std::string& ns, const std::string& name) {
  std::function<void(const std::string&, const std::string&)> cb;
  {
    std::lock_guard lock(mu_);
    cb = podCb_;
  }
  if (cb) cb(ns, name);
}

}  // namespace skiff::test
