// Pod lifecycle on a device (issue #19), end to end with the real kubectl: a failing init
// container shows Init:CrashLoopBackOff with restarts and a fixed template starts the app; a
// native sidecar starts before and outlives the app of a restartPolicy Never pod; security
// contexts are applied (runAsNonRoot refused for a root image, runAsUser, read-only root file
// system, dropped capabilities seen inside); deleting a pod whose container ignores SIGTERM takes
// its grace period and ends only once the container is gone; bad pods get clear errors and start
// nothing.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(120);
constexpr const char* kToleration =
    "  tolerations:\n"
    "  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}\n";

std::map<std::string, std::string> rowOf(System& sys, const std::string& prefix) {
  for (const auto& r : sys.podRows()) {
    if (r.count("NAME") != 0 && r.at("NAME").starts_with(prefix)) return r;
  }
  return {};
}

std::string initDeployment(const std::string& image, const std::string& initScript) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: initapp}\nspec:\n"
         "  replicas: 1\n  selector: {matchLabels: {app: initapp}}\n  template:\n"
         "    metadata: {labels: {app: initapp}}\n    spec:\n"
         "      terminationGracePeriodSeconds: 1\n"
         "      tolerations:\n"
         "      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}\n"
         "      initContainers:\n"
         "      - {name: check, image: " +
         image + ", command: [\"sh\", \"-c\", \"" + initScript +
         "\"]}\n"
         "      containers:\n"
         "      - {name: app, image: " +
         image + ", command: [\"sleep\", \"3600\"]}\n";
}

class E2ePodLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sys = System::create({.name = "e2e-lifecycle",
                               .controlPlane = true,
                               .agentArgs = {"--crash-loop-backoff", "2s"}});
    ASSERT_TRUE(sys.isOk()) << sys.status();
    sys_ = std::move(*sys);
    SKIFF_ASSERT_OK(sys_->addAgent("pi-a", {{"site", "a"}}));
    SKIFF_ASSERT_OK(sys_->startVirtualNode(false));
    ASSERT_TRUE(eventually([&] { return sys_->nodeReady("skiff-fleet"); }, kWait))
        << sys_->diagnostics();
    image_ = sys_->registry().imageRef("latest");
  }
  std::string apply(const std::string& name, const std::string& yaml) {
    auto r = sys_->kubectl().run({"apply", "-f", sys_->file(name + ".yaml", yaml)});
    return r.isOk() ? std::to_string(r->exitCode) + " " + r->output : r.status().toString();
  }
  std::unique_ptr<System> sys_;
  std::string image_;
};

TEST_F(E2ePodLifecycle, InitFailureSidecarsSecurityContextsAndBadInput) {
  System& sys = *sys_;
  // A failing init container: Init:CrashLoopBackOff (or Init:Error between restarts) with
  // restarts counted; the app container never starts.
  ASSERT_EQ(apply("initapp", initDeployment(image_, "echo checking; exit 3")).substr(0, 1), "0");
  ASSERT_TRUE(eventually(
      [&] {
        auto row = rowOf(sys, "initapp-");
        return row["STATUS"] == "Init:CrashLoopBackOff" && row["RESTARTS"] != "0";
      },
      kWait))
      << sys.diagnostics();
  std::string failingPod = rowOf(sys, "initapp-")["NAME"];
  Json failing = podJson(sys, failingPod);
  EXPECT_EQ(statusOf(failing, "app")["state"]["waiting"]["reason"], "PodInitializing");
  EXPECT_EQ(statusOf(failing, "check")["lastState"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(failing["status"]["phase"], "Pending");
  // Fixed in a new pod template: the new pod initializes and runs.
  ASSERT_EQ(apply("initapp", initDeployment(image_, "echo ok")).substr(0, 1), "0");
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& r : sys.podRows()) {
          if (r.at("NAME").starts_with("initapp-") && r.at("NAME") != failingPod &&
              r.at("STATUS") == "Running" && r.at("READY") == "1/1") {
            return true;
          }
        }
        return false;
      },
      kWait))
      << sys.diagnostics();

  // A native sidecar in a restartPolicy Never pod: starts before the app, keeps running beside
  // it, is stopped after it exits; the pod completes.
  std::string batch =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: batch}\nspec:\n"
      "  restartPolicy: Never\n  terminationGracePeriodSeconds: 2\n" +
      std::string(kToleration) +
      "  initContainers:\n"
      "  - {name: proxy, image: " +
      image_ +
      ", restartPolicy: Always, command: [\"sh\", \"-c\", \"trap 'echo proxy "
      "stopped; exit 0' TERM; echo proxy up; while true; do sleep 0.2; done\"]}\n"
      "  containers:\n"
      "  - {name: job, image: " +
      image_ + ", command: [\"sh\", \"-c\", \"sleep 4; echo job done\"]}\n";
  ASSERT_EQ(apply("batch", batch).substr(0, 1), "0");
  ASSERT_TRUE(eventually([&] { return rowOf(sys, "batch")["STATUS"] == "Running"; }, kWait))
      << sys.diagnostics();
  // (kubectl prints Completed as soon as the app container has; the phase turns Succeeded once
  // the agent has also stopped the sidecar, as the kubelet's getPhase does.)
  ASSERT_TRUE(eventually(
      [&] {
        return rowOf(sys, "batch")["STATUS"] == "Completed" &&
               podJson(sys, "batch")["status"].value("phase", "") == "Succeeded";
      },
      kWait))
      << podJson(sys, "batch").dump() << sys.diagnostics();
  Json done = podJson(sys, "batch");
  EXPECT_EQ(done["status"]["phase"], "Succeeded");
  Json proxy = statusOf(done, "proxy");
  Json job = statusOf(done, "job");
  ASSERT_TRUE(proxy["state"].contains("terminated")) << done.dump();
  ASSERT_TRUE(job["state"].contains("terminated")) << done.dump();
  EXPECT_LE(proxy["state"]["terminated"].value("startedAt", ""),
            job["state"]["terminated"].value("startedAt", ""));
  EXPECT_GE(proxy["state"]["terminated"].value("finishedAt", ""),
            job["state"]["terminated"].value("finishedAt", ""));

  // runAsNonRoot with an image that runs as root: refused with the kubelet's reason.
  std::string nonroot = "apiVersion: v1\nkind: Pod\nmetadata: {name: nonroot}\nspec:\n" +
                        std::string(kToleration) +
                        "  securityContext: {runAsNonRoot: true}\n"
                        "  containers:\n"
                        "  - {name: app, image: " +
                        image_ + ", command: [\"sleep\", \"3600\"]}\n";
  ASSERT_EQ(apply("nonroot", nonroot).substr(0, 1), "0");
  ASSERT_TRUE(eventually(
      [&] { return rowOf(sys, "nonroot")["STATUS"] == "CreateContainerConfigError"; }, kWait))
      << sys.diagnostics();
  EXPECT_NE(statusOf(podJson(sys, "nonroot"), "app")["state"]["waiting"]
                .value("message", "")
                .find("container has runAsNonRoot and image will run as root"),
            std::string::npos)
      << podJson(sys, "nonroot").dump();

  // runAsUser, a read-only root file system and dropped capabilities, seen from inside.
  std::string secure =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: secure}\nspec:\n" + std::string(kToleration) +
      "  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}\n"
      "  volumes: [{name: data, emptyDir: {}}]\n"
      "  containers:\n"
      "  - name: app\n    image: " +
      image_ +
      "\n    command: [\"sh\", \"-c\", \"id -u; id -g; echo rootfs=$(awk '$2 == \\\"/\\\" "
      "{print substr($4, 1, 2)}' /proc/mounts); touch /data/ok && echo data-writable; grep "
      "CapEff /proc/self/status; sleep 3600\"]\n"
      "    volumeMounts: [{name: data, mountPath: /data}]\n"
      "    securityContext:\n      readOnlyRootFilesystem: true\n"
      "      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL]}\n";
  ASSERT_EQ(apply("secure", secure).substr(0, 1), "0");
  ASSERT_TRUE(eventually(
      [&] {
        auto r = sys.kubectl().run({"logs", "secure"});
        return r.isOk() && r->output.find("CapEff") != std::string::npos;
      },
      kWait))
      << sys.diagnostics();
  auto logs = sys.kubectl().run({"logs", "secure"});
  ASSERT_TRUE(logs.isOk());
  // (Fleet mode: the first line names the device the logs come from.)
  EXPECT_TRUE(logs->output.ends_with(
      "<==\n1000\n3000\nrootfs=ro\ndata-writable\nCapEff:\t0000000000000000\n"))
      << logs->output;

  // Bad input. What kube-apiserver refuses, Skiff's control plane refuses the same way...
  auto refused = [&](const std::string& name, const std::string& spec, const std::string& want) {
    std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n" +
                       std::string(kToleration) + spec;
    std::string out = apply(name, yaml);
    EXPECT_NE(out.substr(0, 1), "0") << out;
    EXPECT_NE(out.find(want), std::string::npos) << out;
  };
  refused("badmount",
          "  containers:\n  - {name: a, image: " + image_ +
              ", volumeMounts: [{name: nope, mountPath: /x}]}\n",
          "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"");
  refused("noimage",
          "  initContainers:\n  - {name: i}\n  containers:\n  - {name: a, image: " + image_ + "}\n",
          "spec.initContainers[0].image: Required value");
  refused("badsize",
          "  volumes: [{name: v, emptyDir: {sizeLimit: -1Gi}}]\n  containers:\n  - {name: a, "
          "image: " +
              image_ + "}\n",
          "spec.volumes[0].emptyDir.sizeLimit");
  // ... and what it accepts but a pod cannot do (two containers on one port of the shared
  // network namespace) is a clear error on the pod, with nothing started on the device.
  std::string ports = "apiVersion: v1\nkind: Pod\nmetadata: {name: twoports}\nspec:\n" +
                      std::string(kToleration) + "  containers:\n  - {name: a, image: " + image_ +
                      ", ports: [{containerPort: 8080}]}\n  - {name: b, image: " + image_ +
                      ", ports: [{containerPort: 8080}]}\n";
  ASSERT_EQ(apply("twoports", ports).substr(0, 1), "0");
  ASSERT_TRUE(eventually(
      [&] { return rowOf(sys, "twoports")["STATUS"] == "CreateContainerConfigError"; }, kWait))
      << sys.diagnostics();
  EXPECT_NE(podJson(sys, "twoports")["status"].value("message", "").find("duplicate port 8080/TCP"),
            std::string::npos)
      << podJson(sys, "twoports").dump();
  auto all = sys.containers("pi-a");
  ASSERT_TRUE(all.isOk());
  for (const auto& c : *all) EXPECT_NE(c["Labels"].value("io.skiff.pod", ""), "twoports");
}

TEST_F(E2ePodLifecycle, DeletionWaitsUntilTheContainerIsGone) {
  System& sys = *sys_;
  // The container ignores SIGTERM: only SIGKILL at the end of the 20 s grace period ends it.
  std::string stubborn = "apiVersion: v1\nkind: Pod\nmetadata: {name: stubborn}\nspec:\n" +
                         std::string(kToleration) +
                         "  terminationGracePeriodSeconds: 20\n"
                         "  containers:\n  - {name: app, image: " +
                         image_ +
                         ", command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 0.2; "
                         "done\"]}\n";
  ASSERT_EQ(apply("stubborn", stubborn).substr(0, 1), "0");
  ASSERT_TRUE(eventually([&] { return rowOf(sys, "stubborn")["STATUS"] == "Running"; }, kWait))
      << sys.diagnostics();
  auto t0 = std::chrono::steady_clock::now();
  std::optional<Result<CommandResult>> deleted;
  std::thread del([&] {
    deleted = sys.kubectl().run({"delete", "pod", "stubborn"}, std::chrono::seconds(120));
  });
  // While the device still runs it, the pod is Terminating.
  bool sawTerminating =
      eventually([&] { return rowOf(sys, "stubborn")["STATUS"] == "Terminating"; }, 15s);
  bool runningMidway = false;
  std::this_thread::sleep_for(8s);
  auto mid = sys.containers("pi-a");
  if (mid.isOk()) {
    for (const auto& c : *mid) {
      // (Podman says "stopping" once the stop signal was sent: the process still runs.)
      std::string state = c.value("State", "");
      if (c["Labels"].value("io.skiff.module", "") == "stubborn/app" &&
          (state == "running" || state == "stopping")) {
        runningMidway = true;
      }
    }
  }
  del.join();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(deleted.has_value() && deleted->isOk() && (*deleted)->exitCode == 0)
      << (deleted && deleted->isOk() ? (*deleted)->output : "kubectl failed");
  EXPECT_TRUE(sawTerminating) << sys.diagnostics();
  EXPECT_TRUE(runningMidway) << "the container keeps running within its grace period: "
                             << (mid.isOk() ? Json(*mid).dump() : mid.status().toString());
  EXPECT_GE(took, 18.0) << "kubectl delete returned before the grace period ended";
  EXPECT_LE(took, 60.0);
  // Once the pod is gone, so is every container of it on the device.
  auto after = sys.containers("pi-a");
  ASSERT_TRUE(after.isOk());
  for (const auto& c : *after) EXPECT_NE(c["Labels"].value("io.skiff.pod", ""), "stubborn");
}

}  // namespace
}  // namespace skiff::test
