// The pod → deployment mapping against a real agent and Podman (docs/pod-mapping.md): env from a
// ConfigMap and a Secret, ConfigMap and Secret volumes shipped as files, a downward-API env, an
// exec readiness probe that gates Ready, a published hostPort served by the container, resource
// limits on the container, and restartPolicy Never reaching Succeeded / Failed. Fleet mode, one
// real agent; every effect is checked where it happens (the container's output via kubectl logs,
// Podman's inspect, an HTTP request to the published port, the pod's status).
#include <gtest/gtest.h>

#include "tests/e2e/system.h"
#include "tests/support/http.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(90);

std::string phaseOf(System& sys, const std::string& pod) {
  auto p = sys.getJson({"pod", pod});
  return p.isOk() ? (*p)["status"].value("phase", "") : "";
}

bool containerReady(System& sys, const std::string& pod) {  // from one fresh read
  auto p = sys.getJson({"pod", pod});
  if (!p.isOk() || !(*p)["status"].contains("containerStatuses")) return false;
  return (*p)["status"]["containerStatuses"][0].value("ready", false);
}

TEST(E2ePodFeatures, ConfigSecretsProbesPortsLimitsAndCompletion) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-features", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  std::string image = sys->registry().imageRef("latest");
  SKIFF_ASSERT_OK_AND_ASSIGN(int hostPort, freeLoopbackPort());

  std::string manifest = R"y(apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  mode: production
  app.conf: |
    listen 8080
    workers 2
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
type: Opaque
stringData:
  password: s3cr3t
---
apiVersion: v1
kind: Pod
metadata:
  name: features
  labels: {team: edge}
spec:
  terminationGracePeriodSeconds: 1
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c"]
    args:
    - |
      echo "mode=$MODE password=$PASSWORD pod=$POD_NAME team=$TEAM"
      echo "conf: $(cat /etc/app/app.conf | tr '\n' ' ')"
      echo "secret file: $(cat /etc/secret/password) mode $(stat -c %a /etc/secret/password)"
      mkdir -p /www && echo served-by-skiff > /www/index.html
      (sleep 3; touch /tmp/ready) &
      exec httpd -f -p 8080 -h /www
    env:
    - name: MODE
      valueFrom: {configMapKeyRef: {name: app-config, key: mode}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: TEAM
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['team']"}}
    ports:
    - {containerPort: 8080, hostPort: HOSTPORT}
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
    resources:
      limits: {cpu: 250m, memory: 64Mi}
    volumeMounts:
    - {name: config, mountPath: /etc/app}
    - {name: secret, mountPath: /etc/secret, readOnly: true}
  volumes:
  - name: config
    configMap: {name: app-config}
  - name: secret
    secret: {secretName: app-secret, defaultMode: 0400}
---
apiVersion: v1
kind: Pod
metadata: {name: job-ok}
spec:
  restartPolicy: Never
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  containers:
  - {name: main, image: IMAGE, command: ["sh", "-c", "echo done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: job-fail}
spec:
  restartPolicy: Never
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  containers:
  - {name: main, image: IMAGE, command: ["sh", "-c", "exit 7"]}
)y";
  for (std::string::size_type p; (p = manifest.find("IMAGE")) != std::string::npos;) {
    manifest.replace(p, 5, image);
  }
  manifest.replace(manifest.find("HOSTPORT"), 8, std::to_string(hostPort));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", sys->file("features.yaml", manifest)}));

  // Running, but not Ready until the exec readiness probe passes (after ~3 s).
  bool sawRunningNotReady = false;
  ASSERT_TRUE(eventually(
      [&] {
        if (phaseOf(*sys, "features") != "Running") return false;
        bool ready = containerReady(*sys, "features");
        sawRunningNotReady = sawRunningNotReady || !ready;
        return ready;
      },
      kWait))
      << sys->diagnostics();
  EXPECT_TRUE(sawRunningNotReady) << "Ready before the readiness probe could pass";
  SKIFF_ASSERT_OK_AND_ASSIGN(Json pod, sys->getJson({"pod", "features"}));
  std::string readySince;
  for (const auto& c : pod["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") readySince = c.value("status", "");
  }
  EXPECT_EQ(readySince, "True") << pod["status"].dump();

  // What the container saw: env from the ConfigMap, the Secret and the downward API; the
  // ConfigMap and Secret files with their modes.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, sys->kubectl().ok({"logs", "features"}));
  EXPECT_NE(logs.find("mode=production password=s3cr3t pod=features team=edge"), std::string::npos)
      << logs;
  EXPECT_NE(logs.find("conf: listen 8080 workers 2"), std::string::npos) << logs;
  EXPECT_NE(logs.find("secret file: s3cr3t mode 400"), std::string::npos) << logs;

  // The published port answers from the container.
  std::string served;
  ASSERT_TRUE(eventually([&] {
    auto r = httpGet("http://127.0.0.1:" + std::to_string(hostPort) + "/index.html");
    served = r.isOk() ? r->body : r.status().toString();
    return r.isOk() && r->status == 200;
  })) << served;
  EXPECT_EQ(served, "served-by-skiff\n");

  // Limits reached the engine.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ctrs, sys->moduleContainers("pi-a", "features/app"));
  ASSERT_EQ(ctrs.size(), 1u);
  auto inspect = httpGet("http://d/v1.40/containers/" + ctrs[0].value("Id", "") + "/json", {},
                         sys->podman().socketPath());
  ASSERT_TRUE(inspect.isOk());
  SKIFF_ASSERT_OK_AND_ASSIGN(Json ij, common::parseJson(inspect->body));
  EXPECT_EQ(ij["HostConfig"].value("Memory", int64_t{0}), 64LL << 20) << ij["HostConfig"].dump();
  EXPECT_EQ(ij["HostConfig"].value("NanoCpus", int64_t{0}), 250'000'000LL)
      << ij["HostConfig"].dump();

  // restartPolicy Never: exit 0 → Succeeded, exit 7 → Failed with the exit code.
  ASSERT_TRUE(eventually([&] { return phaseOf(*sys, "job-ok") == "Succeeded"; }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return phaseOf(*sys, "job-fail") == "Failed"; }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json failed, sys->getJson({"pod", "job-fail"}));
  EXPECT_EQ(failed["status"]["containerStatuses"][0]["state"]["terminated"].value("exitCode", -1),
            7)
      << failed["status"].dump();
  std::map<std::string, std::string> statusCol;
  for (const auto& r : sys->podRows()) statusCol[r.at("NAME")] = r.at("STATUS");
  EXPECT_EQ(statusCol["job-ok"], "Completed");
  EXPECT_EQ(statusCol["job-fail"], "Error");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string done, sys->kubectl().ok({"logs", "job-ok"}));
  EXPECT_EQ(done.find("done\n") == std::string::npos, false) << done;

  SKIFF_ASSERT_OK(sys->kubectl().ok({"delete", "pod", "features", "job-ok", "job-fail"}, 120s));
  ASSERT_TRUE(eventually([&] { return sys->containers("pi-a")->empty(); }, kWait))
      << sys->diagnostics();
}

}  // namespace
}  // namespace skiff::test
