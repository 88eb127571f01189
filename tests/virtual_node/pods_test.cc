// Pod features end to end in fleet mode (real control plane, kubectl, skiff-virtual-node; FakeHub
// test double): crash loops show CrashLoopBackOff and restart counts, an image change on a pod
// updates its hub deployment in place, env valueFrom / ConfigMap and Secret volumes /
// imagePullSecrets are resolved through the API, unsupported fields become a Warning Event, a pod
// referring to a missing ConfigMap waits with CreateContainerConfigError until it exists, and
// restartPolicy Never pods end Succeeded or Failed from the devices' exit codes; `kubectl logs -f`
// streams lines as the device produces them (pods/log proxy → kubelet endpoint → StreamLogs).
#include <gtest/gtest.h>

#include "common/base64.h"
#include "edge_provider/deployment_id.h"
#include "tests/support/status_assert.h"
#include "tests/virtual_node/vn_env.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(60);

std::string podYaml(const std::string& name, const std::string& image,
                    const std::string& extraSpec = "", const std::string& extraContainer = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  nodeSelector:\n    device.skiff.io/site: a\n  tolerations:\n"
         "  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}\n" +
         extraSpec + "  containers:\n  - name: app\n    image: " + image + "\n" + extraContainer;
}

class VirtualNodePodsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK(env.setUp("vn-pods"));
    env.hub().addDevice("pi-a", {{"site", "a"}}, testFacts());
    SKIFF_ASSERT_OK(env.startVirtualNode(false));
  }

  std::map<std::string, std::string> row(const std::string& pod) {
    for (const auto& r : env.podRows()) {
      if (r.at("NAME") == pod) return r;
    }
    return {};
  }

  std::string deploymentIdOf(const std::string& pod) {
    auto p = env.getJson({"pod", pod});
    if (!p.isOk()) return "";
    return edge_provider::deploymentIdFor("default", pod, (*p)["metadata"].value("uid", ""));
  }

  std::string events(const std::string& pod) {
    auto out = env.kubectl().run(
        {"get", "events", "--field-selector", "involvedObject.name=" + pod, "-o", "json"});
    return out.isOk() ? out->output : "";
  }

  VnEnv env;
};

TEST_F(VirtualNodePodsTest, CrashLoopShowsBackOffAndRestarts) {
  env.hub().setBehaviour("pi-a", "crasher/app", {ModuleBehaviour::Kind::kCrashLoop});
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f", env.manifest("crash.yaml", podYaml("crasher", "127.0.0.1:5000/busybox:1"))}));
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = row("crasher");
        return r.count("STATUS") && r.at("STATUS") == "CrashLoopBackOff" &&
               r.at("RESTARTS") != "0" && r.at("READY") == "0/1";
      },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json pod, env.getJson({"pod", "crasher"}));
  const Json& cs = pod["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["waiting"].value("reason", ""), "CrashLoopBackOff");
  EXPECT_GE(cs.value("restartCount", 0), 1);
  EXPECT_EQ(cs["lastState"]["terminated"].value("exitCode", 0), 1) << cs.dump();
  Json summary = Json::parse(pod["metadata"]["annotations"].value("skiff.io/devices", "{}"));
  EXPECT_EQ(summary.value("failed", 0), 1);
  EXPECT_TRUE(
      waitFor([&] { return events("crasher").find("BackOff") != std::string::npos; }, kWait));
  // Restart counts keep rising in kubectl get pods.
  int first =
      std::stoi(row("crasher").at("RESTARTS").substr(0, row("crasher").at("RESTARTS").find(' ')));
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = row("crasher");
        return r.count("RESTARTS") && std::stoi(r.at("RESTARTS")) > first;
      },
      kWait));
}

TEST_F(VirtualNodePodsTest, ImageChangeUpdatesTheHubDeploymentInPlace) {
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f", env.manifest("p1.yaml", podYaml("web", "127.0.0.1:5000/busybox:1"))}));
  ASSERT_TRUE(waitFor(
      [&] { return row("web").count("STATUS") && row("web").at("STATUS") == "Running"; }, kWait))
      << env.diagnostics();
  std::string id = deploymentIdOf("web");
  auto before = env.hub().deployment(id);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->generation(), 1);
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f", env.manifest("p2.yaml", podYaml("web", "127.0.0.1:5000/busybox:2"))}));
  ASSERT_TRUE(waitFor(
      [&] {
        auto d = env.hub().deployment(id);
        return d && d->generation() == 2 && d->pods_json().find("busybox:2") != std::string::npos;
      },
      kWait))
      << env.diagnostics();
  EXPECT_EQ(env.hub().deployments().size(), 1u);
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = env.getJson({"pod", "web"});
        if (!p.isOk()) return false;
        const Json& cs = (*p)["status"]["containerStatuses"][0];
        return cs.value("image", "") == "127.0.0.1:5000/busybox:2" && cs.value("ready", false) &&
               cs.value("imageID", "") ==
                   "sha256:" + common::tls::sha256Hex("127.0.0.1:5000/busybox:2");
      },
      kWait))
      << env.diagnostics();
}

TEST_F(VirtualNodePodsTest, ReferencesAreResolvedAndUnsupportedFieldsReported) {
  std::string objects = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  LEVEL: debug
  app.conf: "listen 8080\n"
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData:
  password: s3cret
---
apiVersion: v1
kind: Secret
metadata: {name: regcred}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"registry.example.com":{"username":"bot","password":"pw"}}}'
)";
  SKIFF_ASSERT_OK(env.kubectl().ok({"apply", "-f", env.manifest("objects.yaml", objects)}));
  std::string spec = R"(  imagePullSecrets: [{name: regcred}]
  initContainers:
  - {name: setup, image: busybox}
  hostAliases: [{ip: 10.0.0.1, hostnames: [gateway]}]
  volumes:
  - name: config
    configMap: {name: app-config, items: [{key: app.conf, path: app.conf}]}
  - name: secret
    secret: {secretName: app-secret, defaultMode: 0400}
  - name: scratch
    emptyDir: {}
)";
  std::string container = R"Y(    env:
    - name: LEVEL
      valueFrom: {configMapKeyRef: {name: app-config, key: LEVEL}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: GREETING
      value: "level=$(LEVEL)"
    volumeMounts:
    - {name: config, mountPath: /etc/app}
    - {name: secret, mountPath: /run/secret, readOnly: true}
    - {name: scratch, mountPath: /tmp/scratch}
    lifecycle:
      preStop: {exec: {command: ["true"]}}
    tty: true
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 5
)Y";
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f",
       env.manifest("refs.yaml", podYaml("refs", "registry.example.com/app:1", spec, container))}));
  ASSERT_TRUE(waitFor([&] { return env.hub().desiredPods("pi-a").size() == 1; }, kWait))
      << env.diagnostics();
  auto pod = env.hub().desiredPods("pi-a")[0];
  auto m = pod.containers[0];
  std::map<std::string, std::string> envs;
  for (const auto& e : m.env) envs[e.name] = e.value;
  EXPECT_EQ(envs["LEVEL"], "debug");
  EXPECT_EQ(envs["PASSWORD"], "s3cret");
  EXPECT_EQ(envs["POD_NAME"], "refs");
  EXPECT_EQ(envs["GREETING"], "level=debug");
  ASSERT_EQ(pod.volumes.size(), 3u);
  std::map<std::string, common::protocol::Volume> vols;
  for (const auto& v : pod.volumes) vols[v.name] = v;
  ASSERT_EQ(vols["config"].files.size(), 1u);
  EXPECT_EQ(vols["config"].files[0].path, "app.conf");
  EXPECT_EQ(vols["config"].files[0].content, "listen 8080\n");
  ASSERT_EQ(vols["secret"].files.size(), 1u);
  EXPECT_EQ(vols["secret"].files[0].content, "s3cret");
  EXPECT_EQ(vols["secret"].files[0].mode, 0400);
  EXPECT_EQ(vols["scratch"].kind, common::protocol::Volume::Kind::kEmptyDir);
  ASSERT_EQ(pod.initContainers.size(), 1u);
  EXPECT_EQ(pod.initContainers[0].name, "setup");
  ASSERT_TRUE(m.lifecycle.preStop.has_value());
  ASSERT_TRUE(m.livenessProbe.has_value());
  EXPECT_EQ(m.livenessProbe->port, 8080);
  EXPECT_EQ(m.livenessProbe->periodSeconds, 5);
  auto dep = env.hub().deployment(deploymentIdOf("refs"));
  ASSERT_TRUE(dep.has_value());
  EXPECT_NE(dep->registry_credentials_json().find("registry.example.com"), std::string::npos);
  EXPECT_NE(dep->registry_credentials_json().find("bot"), std::string::npos);
  EXPECT_EQ(dep->registry_credentials_json().find("\"pw\""), std::string::npos)
      << "passwords are write-only";
  EXPECT_TRUE(waitFor(
      [&] {
        std::string ev = events("refs");
        return ev.find("UnsupportedFields") != std::string::npos &&
               ev.find("spec.hostAliases") != std::string::npos &&
               ev.find("spec.containers[0].tty") != std::string::npos &&
               ev.find("spec.initContainers") == std::string::npos &&
               ev.find("lifecycle") == std::string::npos;
      },
      kWait))
      << events("refs");
}

TEST_F(VirtualNodePodsTest, MissingConfigMapWaitsWithAClearErrorUntilItExists) {
  std::string container = R"(    env:
    - name: LEVEL
      valueFrom: {configMapKeyRef: {name: late-config, key: LEVEL}}
)";
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f",
       env.manifest("late.yaml", podYaml("late", "127.0.0.1:5000/busybox:1", "", container))}));
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = row("late");
        return r.count("STATUS") && r.at("STATUS") == "CreateContainerConfigError";
      },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json pod, env.getJson({"pod", "late"}));
  std::string msg = pod["status"]["containerStatuses"][0]["state"]["waiting"].value("message", "");
  EXPECT_NE(msg.find("spec.containers[0].env[0].valueFrom.configMapKeyRef"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("configmap \"late-config\" not found"), std::string::npos) << msg;
  EXPECT_TRUE(env.hub().deployments().empty());
  EXPECT_TRUE(
      waitFor([&] { return events("late").find("late-config") != std::string::npos; }, kWait));
  SKIFF_ASSERT_OK(
      env.kubectl().ok({"create", "configmap", "late-config", "--from-literal=LEVEL=info"}));
  EXPECT_TRUE(
      waitFor([&] { return row("late").count("STATUS") && row("late").at("STATUS") == "Running"; },
              std::chrono::seconds(120)))
      << env.diagnostics();
}

TEST_F(VirtualNodePodsTest, LogsFollowStreamsNewLinesThroughTheProxy) {
  SKIFF_ASSERT_OK(env.kubectl().ok(
      {"apply", "-f", env.manifest("f.yaml", podYaml("follow", "127.0.0.1:5000/busybox:1"))}));
  ASSERT_TRUE(waitFor(
      [&] { return row("follow").count("STATUS") && row("follow").at("STATUS") == "Running"; },
      kWait))
      << env.diagnostics();
  env.hub().appendLog("pi-a", "follow/app", "before\n");
  SubprocessOptions so;
  so.argv = {"kubectl", "logs", "-f", "follow"};
  so.env = env.kubectl().env();
  so.logFile = env.dir()->file("follow.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto proc, Subprocess::start(so));
  ASSERT_TRUE(
      waitFor([&] { return proc.logContents().find("before\n") != std::string::npos; }, kWait))
      << proc.logContents();
  env.hub().appendLog("pi-a", "follow/app", "after\n");
  EXPECT_TRUE(
      waitFor([&] { return proc.logContents().find("after\n") != std::string::npos; }, kWait))
      << proc.logContents();
  EXPECT_TRUE(proc.isRunning()) << "a following kubectl logs must keep streaming";
  proc.stop();
}

TEST_F(VirtualNodePodsTest, RestartPolicyNeverEndsSucceededOrFailed) {
  env.hub().setBehaviour("pi-a", "job-ok/app", {ModuleBehaviour::Kind::kExit, 0});
  env.hub().setBehaviour("pi-a", "job-bad/app", {ModuleBehaviour::Kind::kExit, 3});
  SKIFF_ASSERT_OK(
      env.kubectl().ok({"apply", "-f",
                        env.manifest("ok.yaml", podYaml("job-ok", "127.0.0.1:5000/busybox:1",
                                                        "  restartPolicy: Never\n"))}));
  SKIFF_ASSERT_OK(
      env.kubectl().ok({"apply", "-f",
                        env.manifest("bad.yaml", podYaml("job-bad", "127.0.0.1:5000/busybox:1",
                                                         "  restartPolicy: Never\n"))}));
  EXPECT_TRUE(waitFor(
      [&] { return row("job-ok").count("STATUS") && row("job-ok").at("STATUS") == "Completed"; },
      kWait))
      << env.diagnostics();
  EXPECT_TRUE(waitFor(
      [&] { return row("job-bad").count("STATUS") && row("job-bad").at("STATUS") == "Error"; },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json ok, env.getJson({"pod", "job-ok"}));
  EXPECT_EQ(ok["status"].value("phase", ""), "Succeeded");
  SKIFF_ASSERT_OK_AND_ASSIGN(Json bad, env.getJson({"pod", "job-bad"}));
  EXPECT_EQ(bad["status"].value("phase", ""), "Failed");
  EXPECT_EQ(bad["status"]["containerStatuses"][0]["state"]["terminated"].value("exitCode", 0), 3);
}

}  // namespace
}  // namespace skiff::test
