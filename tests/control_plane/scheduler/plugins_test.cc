// Each built-in scheduler plugin on hand-built PodInfo/NodeInfo, plus PodInfo/NodeInfo
// extraction from JSON (bad quantities are InvalidArgument).
#include <gtest/gtest.h>

#include <memory>

#include "common/json.h"
#include "control_plane/scheduler/framework.h"
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {
namespace {

using common::Json;

NodeInfo node(const std::string& name, common::Labels labels = {}) {
  NodeInfo n;
  n.name = name;
  n.labels = std::move(labels);
  n.labels.emplace("kubernetes.io/hostname", name);
  n.ready = true;
  n.allocatable = {4000, 8LL << 30, 110};
  return n;
}

PodInfo pod(const std::string& name = "p") {
  PodInfo p;
  p.ns = "default";
  p.name = name;
  p.requests.pods = 1;
  p.nonZeroRequests = {100, 200LL << 20, 1};
  return p;
}

FilterResult runFilter(const std::string& plugin, const PodInfo& p, const NodeInfo& n,
                       const std::vector<const NodeInfo*>* all = nullptr) {
  auto f = makeFilterPlugin(plugin);
  EXPECT_NE(f, nullptr) << plugin;
  CycleState st;
  st.allNodes = all;
  prepareCycle(st, p);
  return f->filter(st, p, n);
}

int runScore(const std::string& plugin, const PodInfo& p, const NodeInfo& n) {
  auto s = makeScorePlugin(plugin);
  EXPECT_NE(s, nullptr) << plugin;
  CycleState st;
  prepareCycle(st, p);
  return s->score(st, p, n);
}

TEST(RegistryTest, DefaultFilterOrderAndFactories) {
  std::vector<std::string> want = {"NodeUnschedulable", "NodeName",         "TaintToleration",
                                   "NodeAffinity",      "NodeResourcesFit", "PodTopologySpread",
                                   "NodeReady"};
  EXPECT_EQ(defaultFilterPlugins(), want);
  for (const auto& n : defaultFilterPlugins()) EXPECT_NE(makeFilterPlugin(n), nullptr) << n;
  for (const auto& n : defaultScorePlugins()) EXPECT_NE(makeScorePlugin(n), nullptr) << n;
  EXPECT_EQ(makeFilterPlugin("Nope"), nullptr);
}

TEST(NodeNameTest, OnlyTheNamedNode) {
  PodInfo p = pod();
  EXPECT_TRUE(runFilter("NodeName", p, node("a")).ok());
  p.nodeName = "a";
  EXPECT_TRUE(runFilter("NodeName", p, node("a")).ok());
  EXPECT_EQ(runFilter("NodeName", p, node("b")).reason,
            "node(s) didn't match the requested node name");
}

TEST(NodeUnschedulableTest, CordonedNodeRejectedUnlessTolerated) {
  NodeInfo n = node("a");
  PodInfo p = pod();
  EXPECT_TRUE(runFilter("NodeUnschedulable", p, n).ok());
  n.unschedulable = true;
  EXPECT_EQ(runFilter("NodeUnschedulable", p, n).reason, "node(s) were unschedulable");
  p.tolerations.push_back({"node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule"});
  EXPECT_TRUE(runFilter("NodeUnschedulable", p, n).ok());
  PodInfo wrongEffect = pod();
  wrongEffect.tolerations.push_back(
      {"node.kubernetes.io/unschedulable", "Exists", "", "NoExecute"});
  EXPECT_FALSE(runFilter("NodeUnschedulable", wrongEffect, n).ok());
  PodInfo everything = pod();
  everything.tolerations.push_back({"", "Exists", "", ""});
  EXPECT_TRUE(runFilter("NodeUnschedulable", everything, n).ok());
}

TEST(NodeReadyTest, NotReadyNodeRejected) {
  NodeInfo n = node("a");
  PodInfo p = pod();
  EXPECT_TRUE(runFilter("NodeReady", p, n).ok());
  n.ready = false;
  EXPECT_EQ(runFilter("NodeReady", p, n).reason, "node(s) were not ready");
}

constexpr const char* kAffinityMsg = "node(s) didn't match Pod's node affinity/selector";

TEST(NodeAffinityTest, NodeSelector) {
  PodInfo p = pod();
  p.nodeSelector = {{"zone", "b"}};
  EXPECT_TRUE(runFilter("NodeAffinity", p, node("a", {{"zone", "b"}})).ok());
  EXPECT_EQ(runFilter("NodeAffinity", p, node("a", {{"zone", "a"}})).reason, kAffinityMsg);
  EXPECT_EQ(runFilter("NodeAffinity", p, node("a")).reason, kAffinityMsg);
}

TEST(NodeAffinityTest, DeviceRequirementsAreTheFleetNodesProviderBusiness) {
  NodeInfo fleet = node("fleet", {{"skiff.io/fleet", "true"}, {"type", "virtual-kubelet"}});
  NodeInfo plain = node("plain", {{"type", "virtual-kubelet"}});
  PodInfo sel = pod();
  sel.nodeSelector = {{"device.skiff.io/site", "a"}, {"type", "virtual-kubelet"}};
  EXPECT_TRUE(runFilter("NodeAffinity", sel, fleet).ok());
  EXPECT_EQ(runFilter("NodeAffinity", sel, plain).reason, kAffinityMsg);
  sel.nodeSelector["type"] = "other";  // other keys still apply to the fleet node
  EXPECT_EQ(runFilter("NodeAffinity", sel, fleet).reason, kAffinityMsg);
  PodInfo aff = pod();
  aff.requiredAffinity = Json::parse(
      R"([{"matchExpressions":[{"key":"device.skiff.io/arch","operator":"In","values":["arm64"]}]}])");
  EXPECT_TRUE(runFilter("NodeAffinity", aff, fleet).ok());
  EXPECT_FALSE(runFilter("NodeAffinity", aff, plain).ok());
  // A device node carries the device's labels and is matched like any node.
  NodeInfo device = node("pi-1", {{"device.skiff.io/arch", "arm64"}});
  EXPECT_TRUE(runFilter("NodeAffinity", aff, device).ok());
}

TEST(NodeAffinityTest, RequiredOperators) {
  auto req = [](const std::string& expr) {
    PodInfo p = pod();
    p.requiredAffinity = Json::parse(R"([{"matchExpressions":[)" + expr + "]}]");
    return p;
  };
  NodeInfo b = node("b", {{"zone", "b"}, {"cores", "8"}});
  NodeInfo a = node("a", {{"zone", "a"}});
  PodInfo in = req(R"({"key":"zone","operator":"In","values":["b","c"]})");
  EXPECT_TRUE(runFilter("NodeAffinity", in, b).ok());
  EXPECT_EQ(runFilter("NodeAffinity", in, a).reason, kAffinityMsg);
  PodInfo notIn = req(R"({"key":"zone","operator":"NotIn","values":["b"]})");
  EXPECT_FALSE(runFilter("NodeAffinity", notIn, b).ok());
  EXPECT_TRUE(runFilter("NodeAffinity", notIn, a).ok());
  EXPECT_TRUE(runFilter("NodeAffinity", notIn, node("c")).ok());  // missing label: NotIn holds
  PodInfo exists = req(R"({"key":"cores","operator":"Exists"})");
  EXPECT_TRUE(runFilter("NodeAffinity", exists, b).ok());
  EXPECT_FALSE(runFilter("NodeAffinity", exists, a).ok());
  PodInfo gt = req(R"({"key":"cores","operator":"Gt","values":["4"]})");
  EXPECT_TRUE(runFilter("NodeAffinity", gt, b).ok());
  EXPECT_FALSE(runFilter("NodeAffinity", gt, node("c", {{"cores", "4"}})).ok());
  EXPECT_FALSE(runFilter("NodeAffinity", gt, a).ok());
  // Terms are ORed, expressions within a term ANDed.
  PodInfo ored = pod();
  ored.requiredAffinity = Json::parse(R"([
    {"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]},
    {"matchExpressions":[{"key":"zone","operator":"In","values":["b"]},
                         {"key":"cores","operator":"Exists"}]}])");
  EXPECT_TRUE(runFilter("NodeAffinity", ored, a).ok());
  EXPECT_TRUE(runFilter("NodeAffinity", ored, b).ok());
  EXPECT_FALSE(runFilter("NodeAffinity", ored, node("c", {{"zone", "b"}})).ok());
}

TEST(NodeAffinityTest, PreferredWeightsScore) {
  PodInfo p = pod();
  p.preferredAffinity = Json::parse(R"([
    {"weight":80,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]}},
    {"weight":20,"preference":{"matchExpressions":[{"key":"ssd","operator":"Exists"}]}}])");
  int both = runScore("NodeAffinity", p, node("x", {{"zone", "b"}, {"ssd", "1"}}));
  int zone = runScore("NodeAffinity", p, node("y", {{"zone", "b"}}));
  int ssd = runScore("NodeAffinity", p, node("z", {{"ssd", "1"}}));
  int none = runScore("NodeAffinity", p, node("w"));
  EXPECT_EQ(both, 100);
  EXPECT_EQ(zone, 80);
  EXPECT_EQ(ssd, 20);
  EXPECT_EQ(none, 0);
  EXPECT_TRUE(runFilter("NodeAffinity", p, node("w")).ok());  // preferred never filters
}

TEST(TaintTolerationTest, NoScheduleAndNoExecuteMustBeTolerated) {
  NodeInfo n = node("gpu");
  n.taints.push_back({"dedicated", "gpu", "NoSchedule"});
  PodInfo p = pod();
  EXPECT_EQ(runFilter("TaintToleration", p, n).reason,
            "node(s) had untolerated taint {dedicated: gpu}");
  PodInfo equal = pod();
  equal.tolerations.push_back({"dedicated", "Equal", "gpu", "NoSchedule"});
  EXPECT_TRUE(runFilter("TaintToleration", equal, n).ok());
  PodInfo wrongValue = pod();
  wrongValue.tolerations.push_back({"dedicated", "Equal", "cpu", "NoSchedule"});
  EXPECT_FALSE(runFilter("TaintToleration", wrongValue, n).ok());
  PodInfo exists = pod();
  exists.tolerations.push_back({"dedicated", "Exists", "", ""});
  EXPECT_TRUE(runFilter("TaintToleration", exists, n).ok());

  NodeInfo ne = node("ne");
  ne.taints.push_back({"maint", "", "NoExecute"});
  EXPECT_FALSE(runFilter("TaintToleration", p, ne).ok());
  PodInfo noSchedOnly = pod();
  noSchedOnly.tolerations.push_back({"maint", "Exists", "", "NoSchedule"});
  EXPECT_FALSE(runFilter("TaintToleration", noSchedOnly, ne).ok());
  PodInfo neTol = pod();
  neTol.tolerations.push_back({"maint", "Exists", "", "NoExecute"});
  EXPECT_TRUE(runFilter("TaintToleration", neTol, ne).ok());
}

TEST(TaintTolerationTest, PreferNoScheduleOnlyLowersScore) {
  NodeInfo soft = node("soft");
  soft.taints.push_back({"spot", "true", "PreferNoSchedule"});
  PodInfo p = pod();
  EXPECT_TRUE(runFilter("TaintToleration", p, soft).ok());
  int clean = runScore("TaintToleration", p, node("clean"));
  int tainted = runScore("TaintToleration", p, soft);
  EXPECT_GT(clean, tainted);
  PodInfo tol = pod();
  tol.tolerations.push_back({"spot", "Equal", "true", "PreferNoSchedule"});
  EXPECT_EQ(runScore("TaintToleration", tol, soft), clean);
}

TEST(NodeResourcesFitTest, CpuMemoryAndPods) {
  NodeInfo n = node("a");
  n.allocatable = {1000, 1LL << 30, 2};
  PodInfo p = pod();
  p.requests = {600, 256LL << 20, 1};
  EXPECT_TRUE(runFilter("NodeResourcesFit", p, n).ok());
  n.addPod(p);
  EXPECT_EQ(runFilter("NodeResourcesFit", p, n).reason, "Insufficient cpu");
  PodInfo mem = pod();
  mem.requests = {100, 900LL << 20, 1};
  EXPECT_EQ(runFilter("NodeResourcesFit", mem, n).reason, "Insufficient memory");
  PodInfo small = pod();
  small.requests = {100, 1LL << 20, 1};
  EXPECT_TRUE(runFilter("NodeResourcesFit", small, n).ok());
  n.addPod(small);
  EXPECT_EQ(runFilter("NodeResourcesFit", pod(), n).reason, "Too many pods");
  n.removePod(small);
  EXPECT_TRUE(runFilter("NodeResourcesFit", pod(), n).ok());
}

TEST(NodeResourcesFitTest, LeastAllocatedPrefersEmptierNode) {
  NodeInfo empty = node("empty");
  NodeInfo busy = node("busy");
  PodInfo big = pod("big");
  big.requests = {2000, 4LL << 30, 1};
  big.nonZeroRequests = big.requests;
  busy.addPod(big);
  PodInfo p = pod();
  int se = runScore("NodeResourcesLeastAllocated", p, empty);
  int sb = runScore("NodeResourcesLeastAllocated", p, busy);
  EXPECT_GT(se, sb);
  EXPECT_LE(se, 100);
  EXPECT_GE(sb, 0);
}

TEST(PodTopologySpreadTest, DoNotScheduleMaxSkew) {
  auto sel = common::LabelSelector::fromJson(Json::parse(R"({"matchLabels":{"app":"web"}})"));
  ASSERT_TRUE(sel.isOk());
  PodInfo p = pod();
  p.labels = {{"app", "web"}};
  p.spread.push_back({1, "zone", true, *sel});
  NodeInfo a = node("a", {{"zone", "a"}});
  NodeInfo b = node("b", {{"zone", "b"}});
  NodeInfo nolabel = node("c");
  a.addPod(p);  // zone a: 1, zone b: 0
  std::vector<const NodeInfo*> all = {&a, &b, &nolabel};
  // Placing on a → a=2, min=0: skew 2 > 1.
  EXPECT_EQ(runFilter("PodTopologySpread", p, a, &all).reason,
            "node(s) didn't match pod topology spread constraints");
  EXPECT_TRUE(runFilter("PodTopologySpread", p, b, &all).ok());
  EXPECT_FALSE(runFilter("PodTopologySpread", p, nolabel, &all).ok());
  b.addPod(p);  // balanced 1/1: either fits
  EXPECT_TRUE(runFilter("PodTopologySpread", p, a, &all).ok());
  EXPECT_TRUE(runFilter("PodTopologySpread", p, b, &all).ok());
  // maxSkew 2 tolerates a 2-pod lead.
  PodInfo loose = p;
  loose.spread[0].maxSkew = 2;
  a.addPod(p);  // a=2, b=1 → placing on a gives 3-1 = 2
  EXPECT_TRUE(runFilter("PodTopologySpread", loose, a, &all).ok());
  EXPECT_FALSE(runFilter("PodTopologySpread", p, a, &all).ok());
  // ScheduleAnyway never filters.
  PodInfo soft = p;
  soft.spread[0].doNotSchedule = false;
  EXPECT_TRUE(runFilter("PodTopologySpread", soft, nolabel, &all).ok());
}

TEST(FromPodTest, ParsesRequestsSelectorsTolerations) {
  auto p = PodInfo::fromPod(Json::parse(R"({
    "metadata":{"name":"p","namespace":"ns","labels":{"app":"web","pod-template-hash":"x"}},
    "spec":{"nodeSelector":{"zone":"b"},
      "tolerations":[{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}],
      "containers":[{"name":"a","resources":{"requests":{"cpu":"250m","memory":"64Mi"}}},
                    {"name":"b"}]}})"));
  ASSERT_TRUE(p.isOk()) << p.status().message();
  EXPECT_EQ(p->requests.milliCpu, 250);
  EXPECT_EQ(p->requests.memory, 64LL << 20);
  EXPECT_EQ(p->nonZeroRequests.milliCpu, 350);
  EXPECT_EQ(p->nodeSelector.at("zone"), "b");
  ASSERT_EQ(p->tolerations.size(), 1u);
  EXPECT_EQ(p->tolerations[0].value, "gpu");
  EXPECT_EQ(p->group, "ns|app=web,");
}

TEST(FromPodTest, BadQuantitiesAreInvalidArgument) {
  for (const char* res : {R"({"cpu":"lots"})", R"({"memory":"12XB"})", R"({"cpu":"1.2.3"})"}) {
    Json pod = Json::parse(R"({"metadata":{"name":"p","namespace":"ns"},"spec":{"containers":[
      {"name":"a","resources":{"requests":)" +
                           std::string(res) + "}}]}}");
    auto p = PodInfo::fromPod(pod);
    ASSERT_FALSE(p.isOk()) << res;
    EXPECT_EQ(p.status().code(), common::StatusCode::kInvalidArgument) << res;
  }
}

TEST(FromNodeTest, ParsesNodeAndRejectsBadAllocatable) {
  auto n = NodeInfo::fromNode(Json::parse(R"({"metadata":{"name":"n1","labels":{"zone":"b"}},
    "spec":{"unschedulable":true,"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},
    "status":{"allocatable":{"cpu":"2","memory":"4Gi","pods":"10"},
      "conditions":[{"type":"Ready","status":"True"}]}})"));
  ASSERT_TRUE(n.isOk());
  EXPECT_TRUE(n->unschedulable);
  EXPECT_TRUE(n->ready);
  EXPECT_EQ(n->allocatable.milliCpu, 2000);
  EXPECT_EQ(n->allocatable.memory, 4LL << 30);
  EXPECT_EQ(n->allocatable.pods, 10);
  ASSERT_EQ(n->taints.size(), 1u);
  auto bad = NodeInfo::fromNode(
      Json::parse(R"({"metadata":{"name":"n1"},"status":{"allocatable":{"cpu":"x"}}})"));
  EXPECT_FALSE(bad.isOk());
}

// Informers can hand the scheduler objects of any shape (a newer API version, a bad write that
// slipped through): missing or mistyped fields read as their defaults, never an exception.
TEST(FromPodTest, MissingAndMistypedFieldsReadAsDefaults) {
  auto p = PodInfo::fromPod(Json::object());
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->name, "");
  EXPECT_EQ(p->priority, 0);
  auto odd = PodInfo::fromPod(Json::parse(R"({"metadata":"x","spec":{"priority":"high",
      "nodeName":7,"tolerations":[1,{"key":5,"operator":"Exists"}],
      "topologySpreadConstraints":[{"maxSkew":"2","whenUnsatisfiable":3}]}})"));
  ASSERT_TRUE(odd.isOk()) << odd.status();
  EXPECT_EQ(odd->priority, 0);
  EXPECT_EQ(odd->nodeName, "");
  ASSERT_EQ(odd->tolerations.size(), 1u);
  EXPECT_EQ(odd->tolerations[0].op, "Exists");
  ASSERT_EQ(odd->spread.size(), 1u);
  EXPECT_EQ(odd->spread[0].maxSkew, 1);
  EXPECT_TRUE(odd->spread[0].doNotSchedule);
  auto n = NodeInfo::fromNode(Json::parse(R"({"spec":{"unschedulable":"yes","taints":[7]},
      "status":{"conditions":[{"type":"Ready"}]}})"));
  ASSERT_TRUE(n.isOk()) << n.status();
  EXPECT_FALSE(n->unschedulable);
  EXPECT_TRUE(n->taints.empty());
  EXPECT_FALSE(n->ready);
}

}  // namespace
}  // namespace skiff::control_plane::scheduler
