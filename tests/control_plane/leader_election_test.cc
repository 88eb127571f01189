// Two skiff-control-plane replicas on one etcd (sharing CA, tokens and encryption key, as the
// HA docs say): only the Lease holder's scheduler and controllers act; killing the leader hands
// over within the lease duration; a leader stopped with SIGTERM releases the Lease so the
// standby takes over at once; a replica that comes back follows. Who acted is read from each
// replica's /metrics (skiff_leader_election_master_status, skiff_scheduler_scheduled_total).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "common/fs.h"
#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/control_plane/fake_kubelet.h"
#include "tests/support/etcd.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

// Value of a sample in Prometheus text ("name{labels} value" or "name value"); -1 if absent.
double metric(ControlPlaneProcess& cp, const std::string& name) {
  auto r = cp.adminClient().get("/metrics");
  if (!r.isOk() || r->status != 200) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(etcd_, EtcdFixture::create());
    SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("leader"));
    dir_.emplace(std::move(dir));
    a_ = startReplica("a");
    ASSERT_TRUE(a_);
    // The second replica gets the first one's CA, tokens and encryption key.
    namespace fs = std::filesystem;
    fs::create_directories(dir_->file("b/pki"));
    for (const char* f : {"pki/ca.pem", "pki/ca.key", "tokens.csv", "secrets-encryption.key"}) {
      fs::copy_file(dir_->file(std::string("a/") + f), dir_->file(std::string("b/") + f));
    }
    b_ = startReplica("b");
    ASSERT_TRUE(b_);
    SKIFF_ASSERT_OK(common::makeDirs(dir_->file("home"), 0700));
  }

  void TearDown() override {
    kubelet_.reset();
    for (auto* cp : {a_.get(), b_.get()}) {
      if (cp && HasFailure()) std::cerr << "--- replica log ---\n" << cp->logContents() << "\n";
    }
    a_.reset();
    b_.reset();
  }

  std::unique_ptr<ControlPlaneProcess> startReplica(const std::string& name) {
    ControlPlaneProcessOptions o;
    o.dataDir = dir_->file(name);
    o.store = "etcd://" + etcd_->endpoint() + "/ha";
    o.schedulerAndControllers = true;
    o.extraArgs = {"--leader-elect-identity=cp-" + name, "--leader-elect-lease-duration=3s",
                   "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=250ms"};
    auto cp = ControlPlaneProcess::start(o);
    EXPECT_TRUE(cp.isOk()) << cp.status().toString();
    return cp.isOk() ? std::move(*cp) : nullptr;
  }

  std::string holder(ControlPlaneProcess& via) {
    Kubectl k(dir_->file("home"), via.adminKubeconfig());
    auto out = k.ok({"get", "lease", "-n", "kube-system", "skiff-control-plane", "-o",
                     "jsonpath={.spec.holderIdentity}"});
    return out.isOk() ? *out : "";
  }

  // Pods of deploy/web bound to a node, read through `via`.
  int boundPods(ControlPlaneProcess& via) {
    auto r = via.adminClient().get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
    if (!r.isOk() || r->status != 200) return -1;
    Json list = Json::parse(r->body, nullptr, false);
    int n = 0;
    for (const auto& p : list["items"]) {
      if (!p["spec"].value("nodeName", "").empty()) ++n;
    }
    return n;
  }

  std::unique_ptr<EtcdFixture> etcd_;
  std::optional<TempDir> dir_;
  std::unique_ptr<ControlPlaneProcess> a_, b_;
  std::optional<FakeKubelet> kubelet_;
};

TEST_F(LeaderElectionTest, OnlyTheLeaderActsAndTheStandbyTakesOver) {
  ASSERT_TRUE(waitFor([&] { return holder(*a_) == "cp-a"; }, 10s)) << holder(*a_);
  EXPECT_EQ(metric(*a_, "skiff_leader_election_master_status"), 1);
  EXPECT_EQ(metric(*b_, "skiff_leader_election_master_status"), 0);

  Kubectl ka(dir_->file("home"), a_->adminKubeconfig());
  std::ofstream(dir_->file("node.yaml")) << R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
status:
  conditions:
  - type: Ready
    status: "True"
  allocatable: {cpu: "8", memory: 16Gi, pods: "110"}
)";
  SKIFF_ASSERT_OK(ka.ok({"apply", "-f", dir_->file("node.yaml")}));
  SKIFF_ASSERT_OK(ka.ok({"create", "deployment", "web", "--image=nginx", "--replicas=5"}));
  ASSERT_TRUE(waitFor([&] { return boundPods(*a_) == 5; }, 20s));
  EXPECT_EQ(metric(*a_, "skiff_scheduler_scheduled_total"), 5);
  EXPECT_EQ(metric(*b_, "skiff_scheduler_scheduled_total"), 0);

  // The leader crashes: the standby takes over once the lease (3 s) has run out.
  a_->kill9();
  auto crashed = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor([&] { return holder(*b_) == "cp-b"; }, 15s));
  auto handover = std::chrono::steady_clock::now() - crashed;
  std::cout << "handover after kill -9: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(handover).count()
            << " ms (lease 3 s)\n";
  EXPECT_LE(handover, 6s);
  Kubectl kb(dir_->file("home"), b_->adminKubeconfig());
  SKIFF_ASSERT_OK(kb.ok({"scale", "deployment", "web", "--replicas=8"}));
  ASSERT_TRUE(waitFor([&] { return boundPods(*b_) == 8; }, 20s));
  EXPECT_EQ(metric(*b_, "skiff_scheduler_scheduled_total"), 3);

  // The old leader comes back as a follower and does nothing.
  SKIFF_ASSERT_OK(a_->restart());
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(metric(*a_, "skiff_leader_election_master_status"), 0);
  SKIFF_ASSERT_OK(kb.ok({"scale", "deployment", "web", "--replicas=10"}));
  ASSERT_TRUE(waitFor([&] { return boundPods(*b_) == 10; }, 20s));
  EXPECT_EQ(metric(*a_, "skiff_scheduler_scheduled_total"), 0);
  EXPECT_EQ(metric(*b_, "skiff_scheduler_scheduled_total"), 5);

  // A clean stop releases the Lease: the standby takes over well within the lease duration.
  auto stopping = std::chrono::steady_clock::now();
  EXPECT_EQ(b_->stop(), 0);
  ASSERT_TRUE(waitFor([&] { return holder(*a_) == "cp-a"; }, 10s));
  auto released = std::chrono::steady_clock::now() - stopping;
  std::cout << "handover after SIGTERM: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(released).count() << " ms\n";
  EXPECT_LT(released, 2500ms);
  Json lease = Json::parse(
      *ka.ok({"get", "lease", "-n", "kube-system", "skiff-control-plane", "-o", "json"}));
  EXPECT_EQ(lease["spec"].value("leaseTransitions", 0), 2);
  SKIFF_ASSERT_OK(ka.ok({"scale", "deployment", "web", "--replicas=11"}));
  ASSERT_TRUE(waitFor([&] { return boundPods(*a_) == 11; }, 20s))
      << ka.run({"get", "deploy,rs,pods", "-o", "wide"})->output;
  EXPECT_EQ(metric(*a_, "skiff_scheduler_scheduled_total"), 1);
}

}  // namespace
}  // namespace skiff::test
