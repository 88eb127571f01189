// FakeKubelet implementation.
#include "tests/control_plane/fake_kubelet.h"

#include "common/clock.h"

namespace skiff::test {

using common::Json;
using namespace std::chrono_literals;

FakeKubelet::FakeKubelet(HttpsClient client, FakeKubeletOptions opts)
    : client_(std::move(client)), opts_(std::move(opts)), thread_([this] { loop(); }) {}

FakeKubelet::~FakeKubelet() {
  stop_ = true;
  thread_.join();
}

void FakeKubelet::setDown(const std::string& node, bool down) {
  std::lock_guard lock(mu_);
  if (down) {
    down_.insert(node);
  } else {
    down_.erase(node);
  }
}

bool FakeKubelet::isDown(const std::string& node) {
  std::lock_guard lock(mu_);
  return down_.contains(node);
}

void FakeKubelet::loop() {
  auto nextHeartbeat = std::chrono::steady_clock::now();
  while (!stop_) {
    if (std::chrono::steady_clock::now() >= nextHeartbeat) {
      for (const auto& n : opts_.heartbeatNodes) {
        if (!isDown(n)) heartbeat(n);
      }
      nextHeartbeat = std::chrono::steady_clock::now() + 200ms;
    }
    auto r = client_.get("/api/v1/pods");
    if (r.isOk() && r->status == 200) {
      Json list = Json::parse(r->body, nullptr, false);
      if (list.is_object()) {
        int active = 0;
        for (const auto& p : list["items"]) {
          const Json& m = p["metadata"];
          if (!m.contains("deletionTimestamp") &&
              m.value("labels", Json::object()).value("app", "") == opts_.trackedApp) {
            ++active;
          }
        }
        if (active > maxActive_) maxActive_ = active;
        for (const auto& p : list["items"]) handle(p);
      }
    }
    std::this_thread::sleep_for(20ms);
  }
}

void FakeKubelet::heartbeat(const std::string& node) {
  std::string now = common::formatRfc3339Micro(std::chrono::system_clock::now());
  std::string leasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + node;
  Json lease = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}}},
      {"spec", {{"holderIdentity", node}, {"leaseDurationSeconds", 40}, {"renewTime", now}}}};
  auto r = client_.request("PATCH", leasePath, common::dumpJson({{"spec", lease["spec"]}}),
                           "application/merge-patch+json");
  if (r.isOk() && r->status == 404) {
    (void)client_.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease);
  }
  // Post Ready=True when the node is not Ready (the kubelet is back).
  auto n = client_.get("/api/v1/nodes/" + node);
  if (!n.isOk() || n->status != 200) return;
  Json obj = Json::parse(n->body, nullptr, false);
  if (!obj.is_object()) return;
  bool ready = false;
  for (const auto& c : obj.value("status", Json::object()).value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ready = true;
  }
  if (ready) return;
  std::string nowSec = common::formatRfc3339(std::chrono::system_clock::now());
  Json conds = Json::array({{{"type", "Ready"},
                             {"status", "True"},
                             {"reason", "KubeletReady"},
                             {"message", "kubelet is posting ready status"},
                             {"lastHeartbeatTime", nowSec},
                             {"lastTransitionTime", nowSec}}});
  obj["status"]["conditions"] = conds;
  (void)client_.request("PUT", "/api/v1/nodes/" + node + "/status", common::dumpJson(obj));
}

void FakeKubelet::handle(const Json& p) {
  const Json& m = p["metadata"];
  std::string node = p["spec"].value("nodeName", "");
  if (node.empty() || isDown(node)) return;
  std::string path =
      "/api/v1/namespaces/" + m.value("namespace", "") + "/pods/" + m.value("name", "");
  if (m.contains("deletionTimestamp") && !m["deletionTimestamp"].is_null()) {
    auto r = client_.request("DELETE", path + "?gracePeriodSeconds=0");
    if (r.isOk() && r->status < 300) ++forceDeleted_;
    return;
  }
  if (p["status"].value("phase", "") == "Running") return;
  Json cs = Json::array();
  for (const auto& c : p["spec"]["containers"]) {
    cs.push_back({{"name", c.value("name", "")},
                  {"image", c.value("image", "")},
                  {"imageID", ""},
                  {"ready", true},
                  {"started", true},
                  {"restartCount", 0},
                  {"state", {{"running", {{"startedAt", "2026-01-01T00:00:00Z"}}}}}});
  }
  Json patch = {{"status",
                 {{"phase", "Running"},
                  {"podIP", "10.0.0.2"},
                  {"startTime", "2026-01-01T00:00:00Z"},
                  {"conditions", Json::array({{{"type", "PodScheduled"}, {"status", "True"}},
                                              {{"type", "Initialized"}, {"status", "True"}},
                                              {{"type", "ContainersReady"}, {"status", "True"}},
                                              {{"type", "Ready"}, {"status", "True"}}})},
                  {"containerStatuses", cs}}}};
  (void)client_.request("PATCH", path + "/status", common::dumpJson(patch),
                        "application/merge-patch+json");
}

}  // namespace skiff::test
