// The real kubectl v1.32 against skiff-control-plane, for every command of issue 5's list, with
// the outputs compared to what a real cluster prints (header lines exactly; cells that do not
// depend on time exactly). The suite runs once per store backend: the embedded SQLite store and
// a real etcd (one etcd for the suite, a key prefix per test).
//
// The control plane runs with --disable-scheduler --disable-controllers, so what is
// compared is the API server's own behaviour: an unbound pod stays unbound, a Deployment gets no
// ReplicaSet, and Events come only from the test. Admission-plugin and controller effects of a
// real cluster (kube-root-ca.crt ConfigMaps, serviceAccountName, default ServiceAccounts, the
// unschedulable taint of cordon) are not expected here; the kubernetes Service is (the API
// server creates it).
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/support/etcd.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNodeYaml = R"(apiVersion: v1
kind: Node
metadata:
  name: edge-1
  labels:
    kubernetes.io/hostname: edge-1
status:
  conditions:
  - type: Ready
    status: "True"
    reason: KubeletReady
    message: kubelet is posting ready status
  addresses:
  - type: InternalIP
    address: 10.0.0.11
  capacity:
    cpu: "4"
    memory: 8Gi
    pods: "110"
  nodeInfo:
    kubeletVersion: v1.32.4
    osImage: Debian GNU/Linux 12 (bookworm)
    kernelVersion: 6.1.0-18-amd64
    containerRuntimeVersion: podman://4.3.1
)";

std::string appYaml(const std::string& image) {
  return R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
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
        image: )" +
         image + R"(
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: prod
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: prod
)";
}

std::string podYaml(const std::string& name, const std::string& labels,
                    const std::string& nodeName = "") {
  std::string y = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
                  "\n  labels: " + labels + "\nspec:\n";
  if (!nodeName.empty()) y += "  nodeName: " + nodeName + "\n";
  y += "  containers:\n  - name: main\n    image: busybox:1.36\n";
  return y;
}

std::string eventYaml(const std::string& name, const std::string& kind, const std::string& obj,
                      const std::string& objNamespace, const std::string& uid,
                      const std::string& reason, const std::string& message,
                      const std::string& component) {
  auto now = common::formatRfc3339(std::chrono::system_clock::now());
  return "apiVersion: v1\nkind: Event\nmetadata:\n  name: " + name +
         "\ninvolvedObject:\n  apiVersion: v1\n  kind: " + kind + "\n  name: " + obj +
         "\n  namespace: \"" + objNamespace + "\"\n  uid: " + uid + "\nreason: " + reason +
         "\nmessage: \"" + message + "\"\ntype: Normal\nsource:\n  component: " + component +
         "\nfirstTimestamp: \"" + now + "\"\nlastTimestamp: \"" + now + "\"\ncount: 1\n";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int countMatches(const std::string& text, const std::regex& re) {
  return static_cast<int>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

std::vector<std::string> column(const KubectlTable& t, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& row : t.rows) out.push_back(row.at(name));
  return out;
}

const std::regex kAge("^[0-9]+s$");

class KubectlTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { etcd_.reset(); }

  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("kubectl"));
    dir_.emplace(std::move(dir));
    ControlPlaneProcessOptions o;
    o.dataDir = dir_->file("data");
    if (GetParam() == "etcd") {
      if (!etcd_) {
        SKIFF_ASSERT_OK_AND_ASSIGN(etcd_, EtcdFixture::create());
      }
      o.store = "etcd://" + etcd_->endpoint() + "/kubectl-test-" + std::to_string(++prefix_);
    }
    SKIFF_ASSERT_OK_AND_ASSIGN(cp_, ControlPlaneProcess::start(o));
    SKIFF_ASSERT_OK(common::makeDirs(dir_->file("home"), 0700));
    kubectl_.emplace(dir_->file("home"), cp_->adminKubeconfig());
  }

  void TearDown() override {
    if (!cp_) return;
    if (HasFailure()) {
      std::cerr << "--- skiff-control-plane log tail ---\n"
                << fileTail(cp_->dataDir() + ".log.1") << "\n";
    }
    pid_t pid = cp_->pid();
    int code = cp_->stop();
    EXPECT_EQ(code, 0) << "control plane (pid " << pid << ") did not shut down cleanly";
  }

  std::string file(const std::string& name, const std::string& content) {
    std::string path = dir_->file(name);
    EXPECT_TRUE(common::writeFileAtomic(path, content).isOk());
    return path;
  }

  // kubectl that must succeed; its output (stdout+stderr).
  std::string k(const std::vector<std::string>& args) {
    auto r = kubectl_->ok(args);
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? *r : "";
  }

  std::string jsonpath(const std::string& resource, const std::string& path,
                       const std::string& ns = "") {
    std::vector<std::string> args = {"get", resource, "-o", "jsonpath={" + path + "}"};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    return k(args);
  }

  void registerNode() {
    EXPECT_EQ(k({"apply", "-f", file("node.yaml", kNodeYaml)}), "node/edge-1 created\n");
  }

  static inline std::unique_ptr<EtcdFixture> etcd_;
  static inline int prefix_ = 0;
  std::optional<TempDir> dir_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::optional<Kubectl> kubectl_;
};

TEST_P(KubectlTest, GetPrintsTheColumnsOfARealCluster) {
  registerNode();
  k({"apply", "-f", file("app.yaml", appYaml("nginx:1.25"))});
  k({"apply", "-f", file("bound.yaml", podYaml("bound", "{app: db}", "edge-1"))});
  k({"run", "solo", "--image=busybox:1.36", "--labels=app=solo"});
  std::string uid = jsonpath("pod/bound", ".metadata.uid");
  k({"create", "-f",
     file("ev.yaml",
          eventYaml("bound.1", "Pod", "bound", "default", uid, "Scheduled",
                    "Successfully assigned default/bound to edge-1", "default-scheduler"))});

  auto nodes = parseKubectlTable(k({"get", "nodes"}));
  EXPECT_EQ(nodes.headerLine, "NAME STATUS ROLES AGE VERSION");
  ASSERT_EQ(nodes.rows.size(), 1u);
  EXPECT_EQ(nodes.rows[0]["NAME"], "edge-1");
  EXPECT_EQ(nodes.rows[0]["STATUS"], "Ready");
  EXPECT_EQ(nodes.rows[0]["ROLES"], "<none>");
  EXPECT_TRUE(std::regex_match(nodes.rows[0]["AGE"], kAge)) << nodes.rows[0]["AGE"];
  EXPECT_EQ(nodes.rows[0]["VERSION"], "v1.32.4");

  auto wideNodes = parseKubectlTable(k({"get", "nodes", "-o", "wide"}));
  EXPECT_EQ(wideNodes.headerLine,
            "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION "
            "CONTAINER-RUNTIME");
  ASSERT_EQ(wideNodes.rows.size(), 1u);
  EXPECT_EQ(wideNodes.rows[0]["INTERNAL-IP"], "10.0.0.11");
  EXPECT_EQ(wideNodes.rows[0]["EXTERNAL-IP"], "<none>");
  EXPECT_EQ(wideNodes.rows[0]["OS-IMAGE"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(wideNodes.rows[0]["KERNEL-VERSION"], "6.1.0-18-amd64");
  EXPECT_EQ(wideNodes.rows[0]["CONTAINER-RUNTIME"], "podman://4.3.1");

  auto pods = parseKubectlTable(k({"get", "pods"}));
  EXPECT_EQ(pods.headerLine, "NAME READY STATUS RESTARTS AGE");

  auto allPods = parseKubectlTable(k({"get", "pods", "-A"}));
  EXPECT_EQ(allPods.headerLine, "NAMESPACE NAME READY STATUS RESTARTS AGE");
  ASSERT_EQ(allPods.rows.size(), 2u);
  EXPECT_EQ(column(allPods, "NAME"), (std::vector<std::string>{"bound", "solo"}));
  for (auto& row : allPods.rows) {
    EXPECT_EQ(row["NAMESPACE"], "default");
    EXPECT_EQ(row["READY"], "0/1");
    EXPECT_EQ(row["STATUS"], "Pending");
    EXPECT_EQ(row["RESTARTS"], "0");
    EXPECT_TRUE(std::regex_match(row["AGE"], kAge)) << row["AGE"];
  }

  auto widePods = parseKubectlTable(k({"get", "pods", "-o", "wide"}));
  EXPECT_EQ(widePods.headerLine,
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES");
  ASSERT_EQ(widePods.rows.size(), 2u);
  EXPECT_EQ(widePods.rows[0]["IP"], "<none>");
  EXPECT_EQ(widePods.rows[0]["NODE"], "edge-1");
  EXPECT_EQ(widePods.rows[0]["NOMINATED NODE"], "<none>");
  EXPECT_EQ(widePods.rows[0]["READINESS GATES"], "<none>");
  EXPECT_EQ(widePods.rows[1]["NODE"], "<none>");

  auto deploy = parseKubectlTable(k({"get", "deploy"}));
  EXPECT_EQ(deploy.headerLine, "NAME READY UP-TO-DATE AVAILABLE AGE");
  ASSERT_EQ(deploy.rows.size(), 1u);
  EXPECT_EQ(deploy.rows[0]["NAME"], "web");
  EXPECT_EQ(deploy.rows[0]["READY"], "0/2");
  EXPECT_EQ(deploy.rows[0]["UP-TO-DATE"], "0");
  EXPECT_EQ(deploy.rows[0]["AVAILABLE"], "0");

  auto wideDeploy = parseKubectlTable(k({"get", "deployments.apps", "-o", "wide"}));
  EXPECT_EQ(wideDeploy.headerLine,
            "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR");
  ASSERT_EQ(wideDeploy.rows.size(), 1u);
  EXPECT_EQ(wideDeploy.rows[0]["CONTAINERS"], "web,sidecar");
  EXPECT_EQ(wideDeploy.rows[0]["IMAGES"], "nginx:1.25,busybox:1.36");
  EXPECT_EQ(wideDeploy.rows[0]["SELECTOR"], "app=web");

  auto events = parseKubectlTable(k({"get", "events"}));
  EXPECT_EQ(events.headerLine, "LAST SEEN TYPE REASON OBJECT MESSAGE");
  ASSERT_EQ(events.rows.size(), 1u);
  EXPECT_TRUE(std::regex_match(events.rows[0]["LAST SEEN"], kAge));
  EXPECT_EQ(events.rows[0]["TYPE"], "Normal");
  EXPECT_EQ(events.rows[0]["REASON"], "Scheduled");
  EXPECT_EQ(events.rows[0]["OBJECT"], "pod/bound");
  EXPECT_EQ(events.rows[0]["MESSAGE"], "Successfully assigned default/bound to edge-1");

  auto allEvents = parseKubectlTable(k({"get", "ev", "-A"}));
  EXPECT_EQ(allEvents.headerLine, "NAMESPACE LAST SEEN TYPE REASON OBJECT MESSAGE");

  auto svc = parseKubectlTable(k({"get", "svc"}));
  EXPECT_EQ(svc.headerLine, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE");
  ASSERT_EQ(svc.rows.size(), 2u);
  // The API's own Service, as every cluster has it.
  EXPECT_EQ(svc.rows[0]["NAME"], "kubernetes");
  EXPECT_EQ(svc.rows[0]["TYPE"], "ClusterIP");
  EXPECT_EQ(svc.rows[0]["CLUSTER-IP"], "10.43.0.1");
  EXPECT_EQ(svc.rows[0]["PORT(S)"], "443/TCP");
  EXPECT_EQ(jsonpath("svc/kubernetes", ".spec.ports[0].targetPort"), std::to_string(cp_->port()));
  EXPECT_EQ(svc.rows[1]["TYPE"], "ClusterIP");
  EXPECT_TRUE(svc.rows[1]["CLUSTER-IP"].starts_with("10.43.")) << svc.rows[1]["CLUSTER-IP"];
  EXPECT_EQ(svc.rows[1]["EXTERNAL-IP"], "<none>");
  EXPECT_EQ(svc.rows[1]["PORT(S)"], "80/TCP");

  auto cm = parseKubectlTable(k({"get", "cm"}));
  EXPECT_EQ(cm.headerLine, "NAME DATA AGE");
  ASSERT_EQ(cm.rows.size(), 1u);
  EXPECT_EQ(cm.rows[0]["DATA"], "1");

  auto ns = parseKubectlTable(k({"get", "ns"}));
  EXPECT_EQ(ns.headerLine, "NAME STATUS AGE");
  EXPECT_EQ(column(ns, "NAME"),
            (std::vector<std::string>{"default", "kube-node-lease", "kube-public", "kube-system"}));
  EXPECT_EQ(column(ns, "STATUS"), std::vector<std::string>(4, "Active"));

  // Empty lists print what a real cluster prints.
  EXPECT_EQ(k({"get", "ds"}), "No resources found in default namespace.\n");
}

TEST_P(KubectlTest, GetPodsWatchStreamsAddedModifiedDeleted) {
  k({"run", "w0", "--image=busybox:1.36", "--labels=app=watched"});
  SubprocessOptions so;
  so.argv = {"kubectl", "get", "pods", "-w", "--output-watch-events", "-l", "app=watched"};
  so.env = kubectl_->env();
  so.logFile = dir_->file("watch.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watcher, Subprocess::start(so));
  auto logHas = [&](const std::string& s) { return contains(watcher.logContents(), s); };
  // The initial list is printed as ADDED events; changes from then on come from the watch,
  // which starts at the list's resourceVersion, so nothing in between is lost.
  SKIFF_ASSERT_OK(waitUntil([&] { return logHas("w0"); }, 10s, "initial list"));
  k({"run", "w1", "--image=busybox:1.36", "--labels=app=watched"});
  k({"label", "pod", "w1", "tier=backend"});
  k({"run", "other", "--image=busybox:1.36", "--labels=app=unwatched"});
  k({"delete", "pod", "w1"});
  SKIFF_ASSERT_OK(waitUntil([&] { return logHas("DELETED"); }, 10s, "DELETED event"));
  EXPECT_TRUE(watcher.isRunning()) << "kubectl get -w exited early:\n" << watcher.logContents();
  std::string out = watcher.logContents();
  watcher.stop();
  std::vector<std::string> lines;
  for (const auto& l : splitLines(out)) {
    if (!l.empty()) lines.push_back(squeezeSpaces(l));
  }
  ASSERT_EQ(lines.size(), 5u) << out;
  EXPECT_EQ(lines[0], "EVENT NAME READY STATUS RESTARTS AGE");
  std::regex row("^(ADDED|MODIFIED|DELETED) (w[01]) 0/1 Pending 0 [0-9]+s$");
  std::vector<std::string> seen;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i], m, row)) << lines[i];
    seen.push_back(m[1].str() + " " + m[2].str());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED w0", "ADDED w1", "MODIFIED w1", "DELETED w1"}));
}

TEST_P(KubectlTest, ApplyCreatesThenIsUnchangedThenPatchesOnce) {
  std::string v1 = file("app.yaml", appYaml("nginx:1.25"));
  EXPECT_EQ(k({"apply", "-f", v1}),
            "deployment.apps/web created\nservice/web created\nconfigmap/web-config created\n");
  EXPECT_EQ(jsonpath("deploy/web", ".metadata.generation"), "1");
  std::string rv = jsonpath("deploy/web", ".metadata.resourceVersion");

  // Unchanged: kubectl computes an empty patch and sends nothing but GETs.
  std::string again = k({"apply", "-f", v1, "-v=6"});
  EXPECT_TRUE(contains(again, "deployment.apps/web unchanged\n")) << again;
  EXPECT_TRUE(contains(again, "service/web unchanged\n")) << again;
  EXPECT_TRUE(contains(again, "configmap/web-config unchanged\n")) << again;
  EXPECT_EQ(countMatches(again, std::regex(R"((PATCH|PUT|POST|DELETE) https://)")), 0) << again;
  EXPECT_EQ(jsonpath("deploy/web", ".metadata.resourceVersion"), rv);

  // A changed image: exactly one strategic merge PATCH, of the Deployment.
  std::string changed = k({"apply", "-f", file("app2.yaml", appYaml("nginx:1.26")), "-v=6"});
  EXPECT_TRUE(contains(changed, "deployment.apps/web configured\n")) << changed;
  EXPECT_TRUE(contains(changed, "service/web unchanged\n")) << changed;
  EXPECT_TRUE(contains(changed, "configmap/web-config unchanged\n")) << changed;
  EXPECT_EQ(countMatches(changed, std::regex(R"((PATCH|PUT|POST|DELETE) https://)")), 1) << changed;
  EXPECT_EQ(countMatches(changed,
                         std::regex(R"(PATCH https://127\.0\.0\.1:[0-9]+/apis/apps/v1/namespaces/)"
                                    R"(default/deployments/web\?[^ ]* 200 OK)")),
            1)
      << changed;
  EXPECT_EQ(jsonpath("deploy/web", ".metadata.generation"), "2");
  // Strategic merge by container name kept the rest of the containers' fields and order.
  EXPECT_EQ(jsonpath("deploy/web", ".spec.template.spec.containers[*].image"),
            "nginx:1.26 busybox:1.36");
  EXPECT_EQ(jsonpath("deploy/web", ".spec.template.spec.containers[0].env[0].value"), "prod");
  EXPECT_EQ(jsonpath("deploy/web", ".spec.template.spec.containers[0].ports[0].protocol"), "TCP");

  EXPECT_EQ(k({"delete", "-f", v1}),
            "deployment.apps \"web\" deleted\nservice \"web\" deleted\n"
            "configmap \"web-config\" deleted\n");
  EXPECT_EQ(k({"get", "deploy,svc,cm", "-o", "name"}), "service/kubernetes\n");
}

TEST_P(KubectlTest, ServicesGetUniqueClusterIPs) {
  auto svc = [](const std::string& name, const std::string& clusterIP) {
    std::string y = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
                    "\nspec:\n  selector:\n    app: " + name + "\n";
    if (!clusterIP.empty()) y += "  clusterIP: " + clusterIP + "\n";
    return y + "  ports:\n  - port: 80\n";
  };
  std::string a = file("a.yaml", svc("a", ""));
  k({"apply", "-f", a});
  k({"apply", "-f", file("b.yaml", svc("b", ""))});
  k({"apply", "-f", file("c.yaml", svc("c", ""))});
  k({"apply", "-f", file("headless.yaml", svc("headless", "None"))});
  k({"apply", "-f", file("fixed.yaml", svc("fixed", "10.43.0.50"))});

  std::regex inRange(R"(^10\.43\.([0-9]{1,3})\.([0-9]{1,3})$)");
  std::set<std::string> ips;
  for (const char* name : {"a", "b", "c"}) {
    std::string ip = jsonpath(std::string("svc/") + name, ".spec.clusterIP");
    EXPECT_TRUE(std::regex_match(ip, inRange)) << name << ": " << ip;
    EXPECT_NE(ip, "10.43.0.50");
    EXPECT_EQ(jsonpath(std::string("svc/") + name, ".spec.clusterIPs[*]"), ip);
    ips.insert(ip);
  }
  EXPECT_EQ(ips.size(), 3u) << "cluster IPs must be unique";
  EXPECT_EQ(jsonpath("svc/headless", ".spec.clusterIP"), "None");
  EXPECT_EQ(jsonpath("svc/fixed", ".spec.clusterIP"), "10.43.0.50");

  auto table = parseKubectlTable(k({"get", "svc", "headless"}));
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0]["CLUSTER-IP"], "None");

  // Taken or out-of-range addresses are refused like kube-apiserver does, and nothing is stored.
  auto taken = kubectl_->run({"apply", "-f", file("dup.yaml", svc("dup", "10.43.0.50"))});
  ASSERT_TRUE(taken.isOk());
  EXPECT_NE(taken->exitCode, 0);
  EXPECT_TRUE(contains(taken->output,
                       "The Service \"dup\" is invalid: spec.clusterIPs: "
                       "Invalid value: []string{\"10.43.0.50\"}: failed to "
                       "allocate IP 10.43.0.50: provided IP is already allocated"))
      << taken->output;
  auto outside = kubectl_->run({"apply", "-f", file("out.yaml", svc("out", "10.99.0.1"))});
  ASSERT_TRUE(outside.isOk());
  EXPECT_NE(outside->exitCode, 0);
  EXPECT_TRUE(contains(outside->output, "is not in the valid range")) << outside->output;
  auto missing = kubectl_->run({"get", "svc", "dup", "out"});
  ASSERT_TRUE(missing.isOk());
  EXPECT_TRUE(contains(missing->output, "services \"dup\" not found")) << missing->output;
  EXPECT_TRUE(contains(missing->output, "services \"out\" not found")) << missing->output;

  // The IP survives re-apply and replace (a PUT without spec.clusterIP) and cannot change.
  std::string ipA = jsonpath("svc/a", ".spec.clusterIP");
  EXPECT_EQ(k({"apply", "-f", a}), "service/a unchanged\n");
  EXPECT_EQ(k({"replace", "-f", a}), "service/a replaced\n");
  EXPECT_EQ(jsonpath("svc/a", ".spec.clusterIP"), ipA);
  auto change = kubectl_->run(
      {"patch", "svc", "a", "--type=merge", "-p", R"({"spec":{"clusterIP":"10.43.0.77"}})"});
  ASSERT_TRUE(change.isOk());
  EXPECT_NE(change->exitCode, 0);
  EXPECT_TRUE(contains(change->output,
                       "The Service \"a\" is invalid: spec.clusterIPs[0]: Invalid value: "
                       "[]string{\"10.43.0.77\"}: may not change once set"))
      << change->output;
  EXPECT_EQ(jsonpath("svc/a", ".spec.clusterIP"), ipA);
}

TEST_P(KubectlTest, DescribePodAndNodeShowEvents) {
  registerNode();
  k({"apply", "-f", file("pod.yaml", podYaml("api", "{app: api}", "edge-1"))});
  std::string podUid = jsonpath("pod/api", ".metadata.uid");
  std::string nodeUid = jsonpath("node/edge-1", ".metadata.uid");
  k({"create", "-f",
     file("ev1.yaml", eventYaml("api.1", "Pod", "api", "default", podUid, "Pulled",
                                "Container image already present on machine", "kubelet"))});
  k({"create", "-f",
     file("ev2.yaml", eventYaml("edge-1.1", "Node", "edge-1", "", nodeUid, "NodeReady",
                                "Node edge-1 status is now: NodeReady", "kubelet"))});

  std::string pod = k({"describe", "pod", "api"});
  EXPECT_TRUE(std::regex_search(pod, std::regex("(^|\n)Name: +api\n"))) << pod;
  EXPECT_TRUE(std::regex_search(pod, std::regex("\nNamespace: +default\n"))) << pod;
  EXPECT_TRUE(std::regex_search(pod, std::regex("\nNode: +edge-1/"))) << pod;
  EXPECT_TRUE(std::regex_search(pod, std::regex("\nStatus: +Pending\n"))) << pod;
  EXPECT_TRUE(std::regex_search(pod, std::regex("\n    Image: +busybox:1.36\n"))) << pod;
  EXPECT_TRUE(std::regex_search(
      pod, std::regex("\nTolerations: +node.kubernetes.io/not-ready:NoExecute op=Exists for "
                      "300s\n")))
      << pod;
  EXPECT_TRUE(std::regex_search(
      pod, std::regex("\nEvents:\n  Type +Reason +Age +From +Message\n  ----.*\n  Normal +Pulled "
                      "+[0-9]+s +kubelet +Container image already present on machine\n")))
      << pod;

  std::string node = k({"describe", "node", "edge-1"});
  EXPECT_TRUE(std::regex_search(node, std::regex("(^|\n)Name: +edge-1\n"))) << node;
  EXPECT_TRUE(std::regex_search(node, std::regex("\nUnschedulable: +false\n"))) << node;
  EXPECT_TRUE(std::regex_search(node, std::regex("\n  InternalIP: +10.0.0.11\n"))) << node;
  EXPECT_TRUE(std::regex_search(node, std::regex("\n  Ready +True .* KubeletReady "))) << node;
  // The bound pod is listed (fieldSelector spec.nodeName=edge-1,status.phase!=Succeeded,...).
  EXPECT_TRUE(std::regex_search(node, std::regex("Non-terminated Pods: +\\(1 in total\\)")))
      << node;
  EXPECT_TRUE(std::regex_search(node, std::regex("\n  default +api +0 \\(0%\\) +0 \\(0%\\) ")))
      << node;
  // Allocatable was defaulted from capacity, as kube-apiserver does.
  EXPECT_TRUE(std::regex_search(node, std::regex("\nAllocatable:\n  cpu: +4\n  memory: +8Gi\n")))
      << node;
  EXPECT_TRUE(std::regex_search(
      node, std::regex("\nEvents:\n  Type +Reason +Age +From +Message\n  ----.*\n  Normal +"
                       "NodeReady +[0-9]+s +kubelet +Node edge-1 status is now: NodeReady\n")))
      << node;
}

TEST_P(KubectlTest, ScaleLabelAndCordon) {
  registerNode();
  k({"apply", "-f", file("app.yaml", appYaml("nginx:1.25"))});
  EXPECT_EQ(k({"scale", "deploy", "web", "--replicas=3"}), "deployment.apps/web scaled\n");
  EXPECT_EQ(jsonpath("deploy/web", ".spec.replicas"), "3");
  EXPECT_EQ(jsonpath("deploy/web", ".metadata.generation"), "2");
  auto deploy = parseKubectlTable(k({"get", "deploy", "web"}));
  ASSERT_EQ(deploy.rows.size(), 1u);
  EXPECT_EQ(deploy.rows[0]["READY"], "0/3");

  EXPECT_EQ(k({"label", "node", "edge-1", "zone=north"}), "node/edge-1 labeled\n");
  EXPECT_EQ(jsonpath("node/edge-1", ".metadata.labels.zone"), "north");
  auto labeled = parseKubectlTable(k({"get", "nodes", "-l", "zone=north"}));
  EXPECT_EQ(column(labeled, "NAME"), std::vector<std::string>{"edge-1"});
  EXPECT_EQ(k({"get", "nodes", "-l", "zone=south"}), "No resources found\n");

  EXPECT_EQ(k({"cordon", "edge-1"}), "node/edge-1 cordoned\n");
  EXPECT_EQ(jsonpath("node/edge-1", ".spec.unschedulable"), "true");
  auto cordoned = parseKubectlTable(k({"get", "nodes"}));
  ASSERT_EQ(cordoned.rows.size(), 1u);
  EXPECT_EQ(cordoned.rows[0]["STATUS"], "Ready,SchedulingDisabled");
  EXPECT_EQ(k({"cordon", "edge-1"}), "node/edge-1 already cordoned\n");
  EXPECT_EQ(k({"uncordon", "edge-1"}), "node/edge-1 uncordoned\n");
  EXPECT_EQ(parseKubectlTable(k({"get", "nodes"})).rows.at(0).at("STATUS"), "Ready");
}

// kubectl's typed clients (create namespace|configmap|secret|deployment|service) send protobuf
// bodies and do not retry as JSON.
TEST_P(KubectlTest, CreateSubcommandsSendProtobuf) {
  // -v=8 dumps the body: the protobuf envelope starts with "k8s\0".
  const std::regex protobufBody(R"(Request Body[^\n]*\n\s*00000000  6b 38 73 00 )");
  std::string out = k({"create", "namespace", "team-a", "-v=8"});
  EXPECT_TRUE(contains(out, "namespace/team-a created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody))
      << "kubectl no longer sends protobuf here; the test would not cover the decoder:\n"
      << out;
  auto ns = parseKubectlTable(k({"get", "ns", "team-a"}));
  ASSERT_EQ(ns.rows.size(), 1u);
  EXPECT_EQ(ns.rows[0]["STATUS"], "Active");
  EXPECT_EQ(jsonpath("ns/team-a", ".spec.finalizers[*]"), "kubernetes");
  auto dup = kubectl_->run({"create", "namespace", "team-a"});
  ASSERT_TRUE(dup.isOk());
  EXPECT_NE(dup->exitCode, 0);
  EXPECT_EQ(dup->output,
            "Error from server (AlreadyExists): namespaces \"team-a\" already exists\n");

  // No controllers here: ServiceAccounts print as kubectl expects and come from protobuf.
  out = k({"create", "serviceaccount", "robot", "-n", "team-a", "-v=8"});
  EXPECT_TRUE(contains(out, "serviceaccount/robot created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody)) << out;
  auto sas = parseKubectlTable(k({"get", "sa", "-n", "team-a"}));
  EXPECT_EQ(sas.headerLine, "NAME SECRETS AGE");
  ASSERT_EQ(sas.rows.size(), 1u);
  EXPECT_EQ(sas.rows[0]["NAME"], "robot");
  EXPECT_EQ(sas.rows[0]["SECRETS"], "0");

  out = k({"create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=edge",
           "--from-literal=level=3", "-v=8"});
  EXPECT_TRUE(contains(out, "configmap/settings created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody)) << out;
  EXPECT_EQ(jsonpath("cm/settings", ".data", "team-a"), R"({"level":"3","mode":"edge"})");

  out = k({"create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=user=admin",
           "-v=8"});
  EXPECT_TRUE(contains(out, "secret/creds created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody)) << out;
  EXPECT_EQ(jsonpath("secret/creds", ".data.user", "team-a"), "YWRtaW4=");  // base64("admin")
  EXPECT_EQ(jsonpath("secret/creds", ".type", "team-a"), "Opaque");

  out = k({"create", "deployment", "api", "-n", "team-a", "--image=nginx:1.25", "--port=8080",
           "--replicas=2", "-v=8"});
  EXPECT_TRUE(contains(out, "deployment.apps/api created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody)) << out;
  EXPECT_EQ(jsonpath("deploy/api", ".spec.replicas", "team-a"), "2");
  EXPECT_EQ(jsonpath("deploy/api", ".spec.selector.matchLabels.app", "team-a"), "api");
  EXPECT_EQ(jsonpath("deploy/api", ".spec.template.spec.containers[0].image", "team-a"),
            "nginx:1.25");
  EXPECT_EQ(
      jsonpath("deploy/api", ".spec.template.spec.containers[0].ports[0].containerPort", "team-a"),
      "8080");

  out = k({"create", "service", "clusterip", "api", "-n", "team-a", "--tcp=80:8080", "-v=8"});
  EXPECT_TRUE(contains(out, "service/api created")) << out;
  EXPECT_TRUE(std::regex_search(out, protobufBody)) << out;
  auto svc = parseKubectlTable(k({"get", "svc", "-n", "team-a"}));
  ASSERT_EQ(svc.rows.size(), 1u);
  EXPECT_TRUE(svc.rows[0]["CLUSTER-IP"].starts_with("10.43.")) << svc.rows[0]["CLUSTER-IP"];
  EXPECT_EQ(svc.rows[0]["PORT(S)"], "80/TCP");
  EXPECT_EQ(jsonpath("svc/api", ".spec.ports[0].targetPort", "team-a"), "8080");
  EXPECT_EQ(jsonpath("svc/api", ".spec.selector.app", "team-a"), "api");
}

TEST_P(KubectlTest, DeletePodUnboundAtOnceBoundGracefully) {
  registerNode();
  k({"run", "loose", "--image=busybox:1.36"});
  k({"apply", "-f", file("bound.yaml", podYaml("bound", "{app: db}", "edge-1"))});

  // An unbound pod has no kubelet to wait for: it is removed at once (kubectl waits for 404).
  EXPECT_EQ(k({"delete", "pod", "loose"}), "pod \"loose\" deleted\n");
  auto gone = kubectl_->run({"get", "pod", "loose"});
  ASSERT_TRUE(gone.isOk());
  EXPECT_EQ(gone->output, "Error from server (NotFound): pods \"loose\" not found\n");

  // A bound pod gets deletionTimestamp (now + 30 s grace) and stays, Terminating, until its
  // kubelet confirms (here: a forced delete with grace 0). --wait=false because kubectl would
  // otherwise wait for the kubelet that this test does not run.
  EXPECT_EQ(k({"delete", "pod", "bound", "--wait=false"}), "pod \"bound\" deleted\n");
  EXPECT_NE(jsonpath("pod/bound", ".metadata.deletionTimestamp"), "");
  EXPECT_EQ(jsonpath("pod/bound", ".metadata.deletionGracePeriodSeconds"), "30");
  std::this_thread::sleep_for(200ms);
  auto terminating = parseKubectlTable(k({"get", "pods"}));
  ASSERT_EQ(terminating.rows.size(), 1u);
  EXPECT_EQ(terminating.rows[0]["NAME"], "bound");
  EXPECT_EQ(terminating.rows[0]["STATUS"], "Terminating");

  std::string forced = k({"delete", "pod", "bound", "--grace-period=0", "--force"});
  EXPECT_TRUE(contains(forced, "pod \"bound\" force deleted\n")) << forced;
  EXPECT_EQ(k({"get", "pods"}), "No resources found in default namespace.\n");
}

// kubectl exec reaches the API server (websocket, then SPDY) and gets a Status it prints: Skiff
// relays logs from devices but no interactive streams. A missing pod is NotFound, as in
// Kubernetes.
TEST_P(KubectlTest, ExecIsRefusedWithAClearMessage) {
  registerNode();
  k({"apply", "-f", file("shell.yaml", podYaml("shell", "{app: sh}", "edge-1"))});
  auto exec = kubectl_->run({"exec", "shell", "--", "ls"});
  ASSERT_TRUE(exec.isOk()) << exec.status();
  EXPECT_NE(exec->exitCode, 0);
  EXPECT_TRUE(contains(exec->output, "pods/exec is not supported by Skiff")) << exec->output;
  EXPECT_TRUE(contains(exec->output, "kubectl logs")) << exec->output;
  auto missing = kubectl_->run({"exec", "nope", "--", "ls"});
  ASSERT_TRUE(missing.isOk()) << missing.status();
  EXPECT_NE(missing->exitCode, 0);
  EXPECT_TRUE(contains(missing->output, "pods \"nope\" not found")) << missing->output;
  EXPECT_EQ(jsonpath("pod/shell", ".metadata.name"), "shell") << "the pod is untouched";
}

// Server-side dry runs (kubectl diff, --dry-run=server) answer with the object the write would
// produce and store nothing: not the new spec, not a generation or resourceVersion bump.
TEST_P(KubectlTest, ServerDryRunsChangeNothing) {
  std::string v1 = file("app.yaml", appYaml("nginx:1.25"));
  k({"apply", "-f", v1});
  std::string rv = jsonpath("deploy/web", ".metadata.resourceVersion");
  std::string gen = jsonpath("deploy/web", ".metadata.generation");
  auto unchanged = [&] {
    EXPECT_EQ(jsonpath("deploy/web", ".metadata.resourceVersion"), rv);
    EXPECT_EQ(jsonpath("deploy/web", ".metadata.generation"), gen);
    EXPECT_EQ(jsonpath("deploy/web", ".spec.replicas"), "2");
    EXPECT_EQ(jsonpath("deploy/web", ".spec.template.spec.containers[0].image"), "nginx:1.25");
  };

  auto same = kubectl_->run({"diff", "-f", v1});
  ASSERT_TRUE(same.isOk()) << same.status();
  EXPECT_EQ(same->exitCode, 0) << same->output;
  EXPECT_EQ(same->output, "");

  std::string v2 = file("app2.yaml", appYaml("nginx:1.26"));
  auto diff = kubectl_->run({"diff", "-f", v2});
  ASSERT_TRUE(diff.isOk()) << diff.status();
  EXPECT_EQ(diff->exitCode, 1) << diff->output;  // 1: differences found
  EXPECT_TRUE(contains(diff->output, "+        image: nginx:1.26")) << diff->output;
  unchanged();

  EXPECT_TRUE(contains(k({"apply", "-f", v2, "--dry-run=server"}),
                       "deployment.apps/web configured (server dry run)"));
  EXPECT_TRUE(
      contains(k({"scale", "deploy/web", "--replicas=5", "--dry-run=server"}), "(server dry run)"));
  k({"patch", "deploy/web", "--dry-run=server", "-p", R"({"spec":{"replicas":7}})"});
  EXPECT_TRUE(contains(k({"set", "image", "deploy/web", "web=nginx:1.27", "--dry-run=server"}),
                       "(server dry run)"));
  EXPECT_TRUE(contains(k({"delete", "deploy/web", "--dry-run=server"}), "(server dry run)"));
  unchanged();
  EXPECT_TRUE(contains(k({"delete", "cm", "--all", "--dry-run=server"}), "(server dry run)"));
  EXPECT_EQ(jsonpath("cm/web-config", ".metadata.name"), "web-config");
}

// kubectl auth can-i / whoami: SelfSubjectAccessReview and SelfSubjectReview answered by the
// rules that guard the requests themselves.
TEST_P(KubectlTest, AuthCanIAndWhoAmI) {
  EXPECT_EQ(k({"auth", "can-i", "create", "pods"}), "yes\n");
  EXPECT_EQ(k({"auth", "can-i", "delete", "nodes", "--all-namespaces"}), "yes\n");
  EXPECT_EQ(k({"auth", "can-i", "get", "/healthz"}), "yes\n");
  std::string me = k({"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"});
  EXPECT_FALSE(me.empty());
  Kubectl reader(dir_->file("home-ro"), cp_->readOnlyKubeconfig());
  auto no = reader.run({"auth", "can-i", "create", "pods"});
  ASSERT_TRUE(no.isOk()) << no.status();
  EXPECT_EQ(no->exitCode, 1);
  EXPECT_EQ(no->output, "no\n");
  EXPECT_EQ(*reader.ok({"auth", "can-i", "list", "deployments.apps"}), "yes\n");
  auto who = reader.ok({"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"});
  ASSERT_TRUE(who.isOk()) << who.status();
  EXPECT_NE(*who, me);
  // A review names exactly one kind of attributes.
  auto bad =
      kubectl_->run({"create", "--raw", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                     "-f", file("ssar.json", R"({"spec":{}})")});
  ASSERT_TRUE(bad.isOk());
  EXPECT_NE(bad->exitCode, 0);
  EXPECT_TRUE(contains(bad->output, "exactly one of resourceAttributes")) << bad->output;
}

TEST_P(KubectlTest, SelectorsAndPagination) {
  for (int i = 1; i <= 5; ++i) {
    k({"run", "p" + std::to_string(i), "--image=busybox:1.36",
       std::string("--labels=app=") + (i % 2 ? "web" : "db")});
  }
  EXPECT_EQ(column(parseKubectlTable(k({"get", "pods", "-l", "app=web"})), "NAME"),
            (std::vector<std::string>{"p1", "p3", "p5"}));
  EXPECT_EQ(column(parseKubectlTable(k({"get", "pods", "-l", "app in (db),!missing"})), "NAME"),
            (std::vector<std::string>{"p2", "p4"}));
  EXPECT_EQ(column(parseKubectlTable(k({"get", "pods", "-l", "app!=web"})), "NAME"),
            (std::vector<std::string>{"p2", "p4"}));
  EXPECT_EQ(column(parseKubectlTable(k({"get", "pods", "--field-selector",
                                        "metadata.name!=p1,status.phase=Pending"})),
                   "NAME"),
            (std::vector<std::string>{"p2", "p3", "p4", "p5"}));

  std::string chunked = k({"get", "pods", "--chunk-size=2", "-v=6"});
  EXPECT_EQ(column(parseKubectlTable(chunked), "NAME"),
            (std::vector<std::string>{"p1", "p2", "p3", "p4", "p5"}));
  EXPECT_EQ(countMatches(chunked, std::regex(R"(GET https://[^ ]*/pods\?limit=2 200 OK)")), 1)
      << chunked;
  EXPECT_EQ(
      countMatches(chunked, std::regex(R"(GET https://[^ ]*/pods\?continue=[^ ]*&limit=2 200 OK)")),
      2)
      << chunked;

  for (const char* pod : {"p1", "p2"}) {
    std::string uid = jsonpath(std::string("pod/") + pod, ".metadata.uid");
    k({"create", "-f",
       file(std::string(pod) + "-ev.yaml",
            eventYaml(std::string(pod) + ".1", "Pod", pod, "default", uid, "Pulling",
                      std::string("Pulling image for ") + pod, "kubelet"))});
  }
  auto ev = parseKubectlTable(k({"get", "events", "--field-selector", "involvedObject.name=p1"}));
  ASSERT_EQ(ev.rows.size(), 1u);
  EXPECT_EQ(ev.rows[0]["OBJECT"], "pod/p1");
  EXPECT_EQ(ev.rows[0]["MESSAGE"], "Pulling image for p1");
  EXPECT_EQ(k({"get", "events", "--field-selector", "involvedObject.name=nope"}),
            "No resources found in default namespace.\n");
  auto bad = kubectl_->run({"get", "pods", "--field-selector", "spec.image=x"});
  ASSERT_TRUE(bad.isOk());
  EXPECT_NE(bad->exitCode, 0);
  EXPECT_TRUE(contains(bad->output, "Error from server (BadRequest)")) << bad->output;
}

TEST_P(KubectlTest, RawEndpoints) {
  k({"get", "ns"});
  std::string metrics = k({"get", "--raw", "/metrics"});
  EXPECT_TRUE(contains(metrics, "# TYPE apiserver_request_total counter")) << metrics;
  EXPECT_TRUE(std::regex_search(
      metrics, std::regex(R"(apiserver_request_total\{[^}]*code="200"[^}]*resource="namespaces")"
                          R"([^}]*verb="LIST"[^}]*\} [1-9])")))
      << metrics;
  EXPECT_EQ(k({"get", "--raw", "/healthz"}), "ok");
  EXPECT_EQ(k({"get", "--raw", "/livez"}), "ok");
  EXPECT_EQ(k({"get", "--raw", "/readyz"}), "ok");
  auto version = common::parseJson(k({"get", "--raw", "/version"}));
  ASSERT_TRUE(version.isOk());
  EXPECT_EQ(version->value("major", ""), "1");
  EXPECT_EQ(version->value("minor", ""), "32");
  EXPECT_TRUE(version->value("gitVersion", "").starts_with("v1.32.")) << *version;
  auto kv = common::parseJson(k({"version", "-o", "json"}));
  ASSERT_TRUE(kv.isOk());
  EXPECT_EQ((*kv)["serverVersion"].value("minor", ""), "32");
}

INSTANTIATE_TEST_SUITE_P(Stores, KubectlTest, ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::test
