// The controllers inside the real skiff-control-plane (scheduler and controllers enabled), driven
// by the real kubectl: a rolling update (kubectl set image) watched step by step against
// maxSurge/maxUnavailable, rollout status/undo, cascading and orphaning Deployment deletion, and
// namespace deletion.
//
// No kubelet runs, so a FakeKubelet thread in the test plays one: bound pods are marked
// Running+Ready through pods/<name>/status, and pods with a deletionTimestamp (graceful deletion
// of bound pods) are force-deleted with gracePeriodSeconds=0 — as a kubelet does once the
// containers stopped. Deletion tests therefore assert that the pods are really gone.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/control_plane/fake_kubelet.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

std::string nodeYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name +
         "\n  labels:\n    kubernetes.io/hostname: " + name + R"(
status:
  conditions:
  - type: Ready
    status: "True"
  allocatable:
    cpu: "4"
    memory: 8Gi
    pods: "110"
)";
}

class ControllersIntegrationTest : public ControlPlaneKubectlTest {
 protected:
  void SetUp() override {
    ControlPlaneKubectlTest::SetUp();
    if (HasFatalFailure()) return;
    std::string nodes =
        nodeYaml("node-1") + "---\n" + nodeYaml("node-2") + "---\n" + nodeYaml("node-3");
    SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("nodes.yaml", nodes)}));
    kubelet_.emplace(cp_->adminClient());
  }

  void TearDown() override {
    kubelet_.reset();
    ControlPlaneKubectlTest::TearDown();
  }

  std::size_t count(const std::vector<std::string>& args) {
    Json j = getJson(args);
    return j.is_object() && j["items"].is_array() ? j["items"].size() : 9999;
  }

  // Deploys web (replicas 4, maxSurge 1, maxUnavailable 1) and waits for the rollout.
  void deployWeb(const std::string& image) {
    std::string yaml = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: )" + image +
                       "\n";
    SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("web.yaml", yaml)}));
    SKIFF_ASSERT_OK(kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=60s"},
                                 std::chrono::seconds(65)));
  }

  std::optional<FakeKubelet> kubelet_;
};

// Watches ReplicaSets of app=web (resuming with short server-side timeouts so it can stop) and
// checks after every event: Σ spec.replicas ≤ replicas + maxSurge and Σ status.availableReplicas
// ≥ replicas − maxUnavailable. Σ status.replicas is only recorded: each ReplicaSet's status is
// written by its own reconcile, so the sum of two statuses mixes moments (the old one can still
// report pods that are already deleted); actual pods are counted by the FakeKubelet instead.
class RolloutObserver {
 public:
  RolloutObserver(HttpsClient client, long long maxTotal, long long minAvailable)
      : client_(std::move(client)),
        maxTotal_(maxTotal),
        minAvailable_(minAvailable),
        thread_([this] { loop(); }) {}
  ~RolloutObserver() { stopAndJoin(); }
  void stopAndJoin() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> violations() {
    std::lock_guard l(mu_);
    return violations_;
  }
  int events() const { return events_; }
  long long maxStatusSum() {
    std::lock_guard l(mu_);
    return maxStatusSum_;
  }
  std::string history() {
    std::lock_guard l(mu_);
    return history_.str();
  }

 private:
  void loop() {
    std::string rv;
    {
      auto r = client_.get("/apis/apps/v1/namespaces/default/replicasets");
      if (r.isOk()) {
        Json list = Json::parse(r->body, nullptr, false);
        rv = list["metadata"].value("resourceVersion", "");
        for (const auto& rs : list["items"]) rss_[rs["metadata"].value("name", "")] = rs;
        check();
      }
    }
    while (!stop_) {
      std::string path = "/apis/apps/v1/namespaces/default/replicasets?watch=true&timeoutSeconds=1";
      if (!rv.empty()) path += "&resourceVersion=" + rv;
      (void)client_.stream(
          path,
          [&](std::string_view line) {
            Json ev = Json::parse(line, nullptr, false);
            if (!ev.is_object() || !ev.contains("object")) return !stop_;
            const Json& o = ev["object"];
            std::string name = o["metadata"].value("name", "");
            rv = o["metadata"].value("resourceVersion", rv);
            if (ev.value("type", "") == "DELETED") {
              rss_.erase(name);
            } else if (ev.value("type", "") != "BOOKMARK") {
              rss_[name] = o;
            }
            ++events_;
            check();
            return !stop_;
          },
          3s);
    }
  }
  void check() {
    long long spec = 0, status = 0, available = 0;
    std::string step;
    for (const auto& [name, rs] : rss_) {
      long long s = rs["spec"].value("replicas", 0LL);
      long long st = rs.value("status", Json::object()).value("replicas", 0LL);
      long long av = rs.value("status", Json::object()).value("availableReplicas", 0LL);
      spec += s;
      status += st;
      available += av;
      step += name + "=" + std::to_string(s) + "/" + std::to_string(st) + "/" + std::to_string(av) +
              " ";
    }
    std::lock_guard l(mu_);
    history_ << step << "\n";
    maxStatusSum_ = std::max(maxStatusSum_, status);
    if (spec > maxTotal_ || available < minAvailable_) {
      violations_.push_back(step);
    }
  }

  HttpsClient client_;
  long long maxTotal_, minAvailable_;
  std::map<std::string, Json> rss_;
  std::mutex mu_;
  std::vector<std::string> violations_;
  long long maxStatusSum_ = 0;
  std::ostringstream history_;
  std::atomic<int> events_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string imageOf(const Json& deploy) {
  return deploy["spec"]["template"]["spec"]["containers"][0].value("image", "");
}

TEST_F(ControllersIntegrationTest, RollingUpdateRespectsSurgeAndUnavailableThenUndo) {
  deployWeb("nginx:1.25");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(count({"get", "rs", "-l", "app=web"}), 1u);

  std::optional<RolloutObserver> obs;
  obs.emplace(cp_->adminClient(), 4 + 1, 4 - 1);
  std::this_thread::sleep_for(200ms);  // the observer has listed and is watching
  kubelet_->resetMaxActive();
  SKIFF_ASSERT_OK(kubectl_->ok({"set", "image", "deploy/web", "web=nginx:1.26"}));
  auto t0 = std::chrono::steady_clock::now();
  auto rs = kubectl_->run({"rollout", "status", "deploy/web", "--timeout=60s"}, 65s);
  ASSERT_TRUE(rs.isOk());
  EXPECT_EQ(rs->exitCode, 0) << rs->output;
  EXPECT_NE(rs->output.find("successfully rolled out"), std::string::npos) << rs->output;
  std::cerr << "rollout took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n";
  std::this_thread::sleep_for(300ms);
  obs->stopAndJoin();
  EXPECT_GT(obs->events(), 3);
  std::cerr << "max Σ status.replicas " << obs->maxStatusSum() << ", max active pods "
            << kubelet_->maxActive() << "\n";
  EXPECT_LE(kubelet_->maxActive(), 4 + 1) << obs->history();
  EXPECT_TRUE(obs->violations().empty()) << "violating steps:\n"
                                         << obs->violations().front() << "\nhistory:\n"
                                         << obs->history();

  Json rsList = getJson({"get", "rs", "-l", "app=web"});
  ASSERT_EQ(rsList["items"].size(), 2u);
  std::set<std::string> hashes;
  for (const auto& r : rsList["items"]) {
    hashes.insert(r["metadata"]["labels"].value("pod-template-hash", ""));
    std::string img = r["spec"]["template"]["spec"]["containers"][0].value("image", "");
    long long replicas = r["spec"].value("replicas", -1LL);
    EXPECT_EQ(replicas, img == "nginx:1.26" ? 4 : 0) << img;
    ASSERT_TRUE(r["metadata"].contains("ownerReferences"));
    EXPECT_EQ(r["metadata"]["ownerReferences"][0].value("name", ""), "web");
  }
  EXPECT_EQ(hashes.size(), 2u);
  Json d = getJson({"get", "deploy", "web"});
  EXPECT_EQ(d["metadata"]["annotations"].value("deployment.kubernetes.io/revision", ""), "2");
  EXPECT_EQ(d["status"].value("updatedReplicas", 0), 4);
  EXPECT_EQ(d["status"].value("availableReplicas", 0), 4);

  SKIFF_ASSERT_OK(kubectl_->ok({"rollout", "undo", "deploy/web"}));
  SKIFF_ASSERT_OK(
      kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=60s"}, std::chrono::seconds(65)));
  d = getJson({"get", "deploy", "web"});
  EXPECT_EQ(imageOf(d), "nginx:1.25");
  EXPECT_EQ(d["metadata"]["annotations"].value("deployment.kubernetes.io/revision", ""), "3");
  EXPECT_EQ(count({"get", "rs", "-l", "app=web"}), 2u);  // the old RS was reused
  EXPECT_TRUE(waitFor(
      [&] {
        Json pods = getJson({"get", "pods", "-l", "app=web"});
        if (!pods.is_object() || pods["items"].size() != 4) return false;
        for (const auto& p : pods["items"]) {
          if (p["spec"]["containers"][0].value("image", "") != "nginx:1.25") return false;
        }
        return true;
      },
      10s))
      << kubectl_->ok({"get", "pods", "-o", "wide"}).valueOr("");
}

TEST_F(ControllersIntegrationTest, DeleteDeploymentRemovesReplicaSetsAndPods) {
  deployWeb("nginx:1.25");
  ASSERT_FALSE(HasFailure());
  SKIFF_ASSERT_OK(kubectl_->ok({"set", "image", "deploy/web", "web=nginx:1.26"}));
  SKIFF_ASSERT_OK(
      kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=60s"}, std::chrono::seconds(65)));
  ASSERT_EQ(count({"get", "rs", "-l", "app=web"}), 2u);
  ASSERT_EQ(count({"get", "pods", "-l", "app=web"}), 4u);
  SKIFF_ASSERT_OK(kubectl_->ok({"delete", "deployment", "web"}));
  EXPECT_TRUE(waitFor(
      [&] {
        return count({"get", "rs", "-l", "app=web"}) == 0;
      },
      15s))
      << kubectl_->ok({"get", "rs"}).valueOr("");
  // Bound pods are deleted gracefully; the fake kubelet completes the deletion.
  EXPECT_TRUE(waitFor(
      [&] {
        return count({"get", "pods", "-l", "app=web"}) == 0;
      },
      15s))
      << kubectl_->ok({"get", "pods"}).valueOr("");
  EXPECT_GE(kubelet_->forceDeleted(), 4);
}

// After a restart the controllers start from what the store holds: scaling up adds exactly the
// missing pods (a cache missing existing objects would create duplicates) and a new rollout
// reuses the existing ReplicaSet history.
TEST_F(ControllersIntegrationTest, AfterARestartControllersContinueFromTheStore) {
  deployWeb("nginx:1.25");
  ASSERT_FALSE(HasFailure());
  kubelet_.reset();
  ASSERT_EQ(cp_->stop(), 0);
  SKIFF_ASSERT_OK(cp_->restart());
  kubelet_.emplace(cp_->adminClient());
  SKIFF_ASSERT_OK(kubectl_->ok({"scale", "deploy/web", "--replicas=6"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=60s"}, 65s));
  std::this_thread::sleep_for(1s);  // duplicates would show up by now
  EXPECT_EQ(count({"get", "pods", "-l", "app=web"}), 6u);
  EXPECT_EQ(count({"get", "rs", "-l", "app=web"}), 1u);
}

TEST_F(ControllersIntegrationTest, OrphanCascadeKeepsReplicaSetAndPods) {
  deployWeb("nginx:1.25");
  ASSERT_FALSE(HasFailure());
  SKIFF_ASSERT_OK(kubectl_->ok({"delete", "deployment", "web", "--cascade=orphan"}));
  EXPECT_TRUE(waitFor([&] { return count({"get", "deploy"}) == 0; }, 10s));
  Json rs;
  EXPECT_TRUE(waitFor(
      [&] {
        Json l = getJson({"get", "rs", "-l", "app=web"});
        if (!l.is_object() || l["items"].size() != 1) return false;
        rs = l["items"][0];
        const Json& m = rs["metadata"];
        return !m.contains("ownerReferences") || m["ownerReferences"].empty();
      },
      10s))
      << rs.dump();
  std::this_thread::sleep_for(1s);  // nothing deletes them later either
  EXPECT_EQ(count({"get", "rs", "-l", "app=web"}), 1u);
  Json pods = getJson({"get", "pods", "-l", "app=web"});
  ASSERT_EQ(pods["items"].size(), 4u);
  for (const auto& p : pods["items"]) {
    EXPECT_FALSE(p["metadata"].contains("deletionTimestamp"));
    // Pods keep their (living) ReplicaSet as owner, as in Kubernetes.
    ASSERT_TRUE(p["metadata"].contains("ownerReferences"));
    EXPECT_EQ(p["metadata"]["ownerReferences"][0].value("name", ""),
              rs["metadata"].value("name", ""));
  }
}

TEST_F(ControllersIntegrationTest, NamespaceDeletionRemovesContentsThenNamespace) {
  SKIFF_ASSERT_OK(kubectl_->ok({"create", "namespace", "doomed"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"-n", "doomed", "create", "configmap", "a", "--from-literal=k=v"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"-n", "doomed", "create", "configmap", "b", "--from-literal=k=v"}));
  ASSERT_GE(count({"-n", "doomed", "get", "configmaps"}), 2u);
  // Every namespace gets its "default" ServiceAccount (and default has one too).
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = kubectl_->run({"-n", "doomed", "get", "serviceaccount", "default"});
        return r.isOk() && r->exitCode == 0;
      },
      10s));
  EXPECT_TRUE(kubectl_->ok({"get", "sa", "default", "-o", "name"}).isOk());
  // … and the cluster CA as kube-root-ca.crt.
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = kubectl_->run({"-n", "doomed", "get", "configmap", "kube-root-ca.crt", "-o",
                                "jsonpath={.data.ca\\.crt}"});
        auto ca = common::readFile(cp_->caFile());
        return r.isOk() && r->exitCode == 0 && ca.isOk() && r->output == *ca;
      },
      10s));
  SKIFF_ASSERT_OK(kubectl_->ok({"delete", "namespace", "doomed", "--wait=false"}));
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = kubectl_->run({"get", "namespace", "doomed"});
        return r.isOk() && r->exitCode != 0 && r->output.find("NotFound") != std::string::npos;
      },
      20s))
      << kubectl_->ok({"get", "namespace", "doomed", "-o", "yaml"}).valueOr("");
  EXPECT_EQ(count({"-n", "doomed", "get", "configmaps"}), 0u);
  EXPECT_EQ(count({"-n", "doomed", "get", "serviceaccounts"}), 0u);
}

// DaemonSet: one pod per matching node; labeling a node adds its pod, unlabeling removes it
// (the fake kubelet completes the graceful deletion).
TEST_F(ControllersIntegrationTest, DaemonSetFollowsNodeLabels) {
  SKIFF_ASSERT_OK(kubectl_->ok({"label", "node", "node-1", "role=edge"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"label", "node", "node-2", "role=edge"}));
  std::string yaml = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      nodeSelector: {role: edge}
      containers:
      - name: agent
        image: busybox:1.36
)";
  SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("ds.yaml", yaml)}));
  auto nodesOfPods = [&] {
    std::multiset<std::string> nodes;
    Json j = getJson({"get", "pods", "-l", "app=agent"});
    if (!j.is_object()) return nodes;
    for (const auto& p : j["items"]) {
      if (!p["metadata"].contains("deletionTimestamp")) {
        nodes.insert(p["spec"].value("nodeName", ""));
      }
    }
    return nodes;
  };
  using Nodes = std::multiset<std::string>;
  EXPECT_TRUE(waitFor(
      [&] {
        return nodesOfPods() == Nodes{"node-1", "node-2"};
      },
      15s))
      << kubectl_->ok({"get", "pods", "-o", "wide"}).valueOr("");
  SKIFF_ASSERT_OK(kubectl_->ok({"label", "node", "node-3", "role=edge"}));
  EXPECT_TRUE(waitFor([&] { return nodesOfPods() == Nodes{"node-1", "node-2", "node-3"}; }, 15s));
  SKIFF_ASSERT_OK(kubectl_->ok({"label", "node", "node-1", "role-"}));
  EXPECT_TRUE(waitFor([&] { return nodesOfPods() == Nodes{"node-2", "node-3"}; }, 15s));
  EXPECT_TRUE(waitFor(
      [&] {
        Json ds = getJson({"get", "ds", "agent"});
        return ds.is_object() && ds["status"].value("desiredNumberScheduled", -1) == 2 &&
               ds["status"].value("numberReady", -1) == 2;
      },
      15s))
      << kubectl_->ok({"get", "ds", "agent", "-o", "yaml"}).valueOr("");
}

}  // namespace
}  // namespace skiff::test
