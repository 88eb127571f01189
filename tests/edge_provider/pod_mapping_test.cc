// Pod → hub deployment mapping, field by field (docs/pod-mapping.md): the pod (init containers,
// sidecars, namespaces, security contexts, lifecycle hooks, probes), env with valueFrom and
// envFrom resolved through a fake ObjectReader, $(VAR) expansion, ports, limits, pod volumes
// shipped as files, restart policy, image pull secrets, targeting from nodeSelector / affinity /
// annotation, priority, warnings for unsupported fields, and clear errors by field.
#include "edge_provider/pod_mapping.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "edge_provider/deployment_id.h"
#include "tests/support/status_assert.h"

namespace skiff::edge_provider {
namespace {

using protocol::ContainerSpec;

class FakeReader final : public virtual_node::ObjectReader {
 public:
  common::Result<Json> getConfigMap(const std::string& ns, const std::string& name) override {
    ++reads;
    auto it = configMaps.find(ns + "/" + name);
    if (it == configMaps.end()) return common::notFound("configmaps \"" + name + "\" not found");
    return it->second;
  }
  common::Result<Json> getSecret(const std::string& ns, const std::string& name) override {
    ++reads;
    auto it = secrets.find(ns + "/" + name);
    if (it == secrets.end()) return common::notFound("secrets \"" + name + "\" not found");
    return it->second;
  }
  std::map<std::string, Json> configMaps;
  std::map<std::string, Json> secrets;
  int reads = 0;
};

Json pod(const Json& containers, const Json& extraSpec = Json::object(),
         const Json& annotations = Json::object()) {
  Json p = {{"metadata",
             {{"name", "web-1"},
              {"namespace", "shop"},
              {"uid", "u-1"},
              {"labels", {{"app", "web"}}},
              {"annotations", annotations}}},
            {"spec",
             {{"nodeName", "skiff-fleet"},
              {"restartPolicy", "Always"},
              {"terminationGracePeriodSeconds", 30},
              {"containers", containers}}}};
  for (const auto& [k, v] : extraSpec.items()) p["spec"][k] = v;
  return p;
}

class PodMappingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reader.configMaps["shop/cfg"] = {
        {"data", {{"LEVEL", "debug"}, {"app.conf", "port=80\n"}, {"bad key", "x"}}},
        {"binaryData", {{"logo.png", common::base64Encode(std::string("\x89PNG", 4))}}}};
    reader.secrets["shop/sec"] = {{"type", "Opaque"},
                                  {"data", {{"password", common::base64Encode("s3cret")}}}};
    ctx.reader = &reader;
    ctx.owner = "skiff-fleet";
  }
  common::Result<PodMapping> map(const Json& p) { return mapPod(p, ctx); }
  ContainerSpec only(const Json& p) {
    auto m = map(p);
    EXPECT_TRUE(m.isOk()) << m.status();
    if (!m.isOk() || m->pod.containers.size() != 1) return {};
    return m->pod.containers[0];
  }
  bool warned(const PodMapping& m, const std::string& what) {
    for (const auto& w : m.warnings) {
      if (w.find(what) != std::string::npos) return true;
    }
    return false;
  }

  FakeReader reader;
  MappingContext ctx;
};

TEST_F(PodMappingTest, DeploymentIdentityAndPod) {
  Json p = pod(Json::array({{{"name", "nginx"}, {"image", "nginx:1.25"}},
                            {{"name", "side"}, {"image", "busybox"}}}),
               {{"terminationGracePeriodSeconds", 7}});
  auto m = map(p);
  SKIFF_ASSERT_OK(m);
  const auto& d = m->deployment;
  EXPECT_EQ(d.id(), deploymentIdFor("shop", "web-1", "u-1"));
  EXPECT_EQ(d.labels().at("skiff.io/virtual-node"), "skiff-fleet");
  EXPECT_EQ(d.labels().at("skiff.io/managed-by"), "skiff-virtual-node");
  EXPECT_EQ(d.annotations().at("skiff.io/pod-namespace"), "shop");
  EXPECT_EQ(d.annotations().at("skiff.io/pod-name"), "web-1");
  EXPECT_EQ(d.annotations().at("skiff.io/pod-uid"), "u-1");
  EXPECT_EQ(d.annotations().at("skiff.io/node"), "skiff-fleet");
  EXPECT_EQ(d.annotations().at("skiff.io/pod-spec-hash"), podMappingHash(p));
  EXPECT_EQ(d.target_selector(), "skiff.io/device-id");
  EXPECT_EQ(m->pod.name, "web-1");
  EXPECT_EQ(m->pod.deploymentId, d.id());
  EXPECT_EQ(m->pod.terminationGracePeriodSeconds, 7);
  EXPECT_EQ(m->pod.restartPolicy, protocol::RestartPolicy::kAlways);
  ASSERT_EQ(m->pod.containers.size(), 2u);
  EXPECT_EQ(m->pod.containers[0].name, "nginx");
  EXPECT_EQ(moduleNameFor("web-1", "nginx"), "web-1/nginx");
  EXPECT_EQ(m->pod.containers[0].pullPolicy, protocol::PullPolicy::kIfNotPresent);
  EXPECT_EQ(m->pod.containers[1].pullPolicy, protocol::PullPolicy::kAlways);  // untagged = latest
  // pods_json is exactly what the hub and the agent parse.
  auto parsed = protocol::podSpecsFromJson(Json::parse(d.pods_json()));
  SKIFF_ASSERT_OK(parsed);
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0], m->pod);
  EXPECT_TRUE(m->warnings.empty());
}

TEST_F(PodMappingTest, CommandArgsEnvAndExpansion) {
  Json c = {
      {"name", "app"},
      {"image", "reg.example/app@sha256:abc"},
      {"command", {"/bin/app", "--level=$(LEVEL)"}},
      {"args", {"$(GREETING) $$(LEVEL) $(UNSET)"}},
      {"workingDir", "/srv"},
      {"envFrom",
       {{{"configMapRef", {{"name", "cfg"}}}, {"prefix", "CFG_"}},
        {{"configMapRef", {{"name", "cfg"}}}, {"prefix", "BAD="}},
        {{"secretRef", {{"name", "missing"}, {"optional", true}}}}}},
      {"env",
       {{{"name", "LEVEL"},
         {"valueFrom", {{"configMapKeyRef", {{"name", "cfg"}, {"key", "LEVEL"}}}}}},
        {{"name", "PASS"},
         {"valueFrom", {{"secretKeyRef", {{"name", "sec"}, {"key", "password"}}}}}},
        {{"name", "OPT"},
         {"valueFrom",
          {{"configMapKeyRef", {{"name", "cfg"}, {"key", "nope"}, {"optional", true}}}}}},
        {{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
        {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
        {{"name", "APP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['app']"}}}}}},
        {{"name", "NODE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}},
        {{"name", "IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
        {{"name", "MEM"},
         {"valueFrom",
          {{"resourceFieldRef", {{"resource", "limits.memory"}, {"divisor", "1Mi"}}}}}},
        {{"name", "CFG_LEVEL"}, {"value", "overridden"}},
        {{"name", "GREETING"}, {"value", "hi-$(POD)"}}}},
      {"resources", {{"limits", {{"memory", "128Mi"}, {"cpu", 2}}}}}};
  auto m = map(pod(Json::array({c})));
  SKIFF_ASSERT_OK(m);
  const ContainerSpec& s = m->pod.containers[0];
  std::map<std::string, std::string> env;
  for (const auto& e : s.env) env[e.name] = e.value;
  EXPECT_EQ(env["CFG_LEVEL"], "overridden");
  EXPECT_EQ(env["CFG_app.conf"], "port=80\n");
  EXPECT_EQ(env["CFG_bad key"], "x");  // Kubernetes 1.32's relaxed names: printable, no '='
  EXPECT_FALSE(env.contains("BAD=LEVEL")) << "invalid names are skipped with a warning";
  EXPECT_TRUE(warned(*m, "key \"LEVEL\" is not a valid environment variable name"));
  EXPECT_EQ(env["LEVEL"], "debug");
  EXPECT_EQ(env["PASS"], "s3cret");
  EXPECT_FALSE(env.contains("OPT"));
  EXPECT_EQ(env["POD"], "web-1");
  EXPECT_EQ(env["NS"], "shop");
  EXPECT_EQ(env["APP"], "web");
  EXPECT_EQ(env["NODE"], "skiff-fleet");
  EXPECT_EQ(env["IP"], "");
  EXPECT_TRUE(warned(*m, "status.podIP is not known"));
  EXPECT_EQ(env["MEM"], "128");
  EXPECT_EQ(env["GREETING"], "hi-web-1");
  EXPECT_EQ(s.command, (std::vector<std::string>{"/bin/app", "--level=debug"}));
  EXPECT_EQ(s.args, (std::vector<std::string>{"hi-web-1 $(LEVEL) $(UNSET)"}));
  EXPECT_EQ(s.workingDir, "/srv");
  EXPECT_EQ(s.pullPolicy, protocol::PullPolicy::kIfNotPresent);  // by digest
  EXPECT_EQ(s.resources.memoryBytes, 128LL << 20);
  EXPECT_EQ(s.resources.cpuMillis, 2000);
}

TEST_F(PodMappingTest, PortsProbesSecurityAndRestartPolicy) {
  Json c = Json::parse(R"({
    "name": "app", "image": "app:1", "imagePullPolicy": "Never",
    "ports": [{"name": "http", "containerPort": 8080, "hostPort": 80},
              {"containerPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
              {"containerPort": 9, "protocol": "SCTP"}],
    "livenessProbe": {"httpGet": {"path": "healthz", "port": "http",
                                  "httpHeaders": [{"name": "X", "value": "1"}]},
                      "initialDelaySeconds": 3, "failureThreshold": 5},
    "readinessProbe": {"tcpSocket": {"port": 8080}},
    "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30,
                     "terminationGracePeriodSeconds": 5},
    "lifecycle": {"postStart": {"httpGet": {"path": "/warm", "port": "http"}},
                  "preStop": {"sleep": {"seconds": 5}}},
    "securityContext": {"privileged": false, "runAsUser": 1000, "runAsGroup": 3000,
                        "runAsNonRoot": true, "readOnlyRootFilesystem": true,
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"add": ["CAP_NET_ADMIN"], "drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                        "seLinuxOptions": {"level": "s0"}}})");
  auto m = map(pod(Json::array({c}), {{"restartPolicy", "OnFailure"}}));
  SKIFF_ASSERT_OK(m);
  const ContainerSpec& s = m->pod.containers[0];
  EXPECT_EQ(s.pullPolicy, protocol::PullPolicy::kNever);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].containerPort, 8080);
  EXPECT_EQ(s.ports[0].hostPort, 80);
  EXPECT_EQ(s.ports[0].protocol, "TCP");
  EXPECT_EQ(s.ports[1].protocol, "UDP");
  EXPECT_EQ(s.ports[1].hostIp, "127.0.0.1");
  EXPECT_TRUE(warned(*m, "ports[2].protocol: SCTP"));
  EXPECT_TRUE(warned(*m, "startupProbe.terminationGracePeriodSeconds: not supported"));
  ASSERT_TRUE(s.livenessProbe);
  EXPECT_EQ(s.livenessProbe->kind, protocol::Probe::Kind::kHttpGet);
  EXPECT_EQ(s.livenessProbe->path, "/healthz");
  EXPECT_EQ(s.livenessProbe->port, 8080);  // named port resolved
  EXPECT_EQ(s.livenessProbe->initialDelaySeconds, 3);
  EXPECT_EQ(s.livenessProbe->failureThreshold, 5);
  EXPECT_EQ(s.livenessProbe->periodSeconds, 10);
  ASSERT_EQ(s.livenessProbe->httpHeaders.size(), 1u);
  ASSERT_TRUE(s.readinessProbe);
  EXPECT_EQ(s.readinessProbe->kind, protocol::Probe::Kind::kTcpSocket);
  ASSERT_TRUE(s.startupProbe);
  EXPECT_EQ(s.startupProbe->failureThreshold, 30);
  ASSERT_TRUE(s.lifecycle.postStart);
  EXPECT_EQ(s.lifecycle.postStart->kind, protocol::Handler::Kind::kHttpGet);
  EXPECT_EQ(s.lifecycle.postStart->port, 8080);
  ASSERT_TRUE(s.lifecycle.preStop);
  EXPECT_EQ(s.lifecycle.preStop->sleepSeconds, 5);
  const auto& sc = s.securityContext;
  EXPECT_FALSE(sc.privileged);
  EXPECT_EQ(sc.runAsUser, 1000);
  EXPECT_EQ(sc.runAsGroup, 3000);
  EXPECT_EQ(sc.runAsNonRoot, true);
  EXPECT_TRUE(sc.readOnlyRootFilesystem);
  EXPECT_EQ(sc.allowPrivilegeEscalation, false);
  EXPECT_EQ(sc.capabilitiesAdd, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(sc.capabilitiesDrop, std::vector<std::string>{"ALL"});
  EXPECT_EQ(sc.seccompProfile, "RuntimeDefault");
  EXPECT_TRUE(warned(*m, "spec.containers[0].securityContext.seLinuxOptions"));
  EXPECT_FALSE(warned(*m, "runAsUser"));
  EXPECT_EQ(m->pod.restartPolicy, protocol::RestartPolicy::kOnFailure);
}

TEST_F(PodMappingTest, PodVolumesAreSharedAndShippedAsFiles) {
  Json c = Json::parse(R"J({"name": "app", "image": "app:1", "volumeMounts": [
    {"name": "all", "mountPath": "/etc/all"},
    {"name": "some", "mountPath": "/etc/some", "readOnly": true},
    {"name": "sec", "mountPath": "/run/sec", "subPath": "password"},
    {"name": "proj", "mountPath": "/etc/proj"},
    {"name": "info", "mountPath": "/etc/info"},
    {"name": "gpio", "mountPath": "/dev/gpiomem"},
    {"name": "tmp", "mountPath": "/tmp/x", "subPathExpr": "$(POD)"},
    {"name": "data", "mountPath": "/data"}]})J");
  Json volumes = Json::parse(R"([
    {"name": "all", "configMap": {"name": "cfg"}},
    {"name": "some", "configMap": {"name": "cfg",
                                   "items": [{"key": "app.conf", "path": "conf/app.conf", "mode": 384}]}},
    {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 256}},
    {"name": "proj", "projected": {"sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "LEVEL", "path": "level"}]}},
        {"secret": {"name": "sec"}}]}},
    {"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
    {"name": "gpio", "hostPath": {"path": "/dev/gpiomem", "type": "CharDevice"}},
    {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    {"name": "scratch", "emptyDir": {"sizeLimit": 1000}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}])");
  Json writer = {{"name", "writer"},
                 {"image", "busybox"},
                 {"volumeMounts", {{{"name", "scratch"}, {"mountPath", "/out"}}}}};
  auto m = map(pod(Json::array({c, writer}), {{"volumes", volumes}}));
  SKIFF_ASSERT_OK(m);
  const ContainerSpec& s = m->pod.containers[0];
  std::map<std::string, protocol::Volume> v;
  for (const auto& vol : m->pod.volumes) v[vol.name] = vol;
  ASSERT_EQ(v["all"].files.size(), 4u);  // LEVEL, app.conf, bad key, logo.png (binaryData)
  bool png = false;
  for (const auto& f : v["all"].files)
    png = png || (f.path == "logo.png" && f.content == std::string("\x89PNG", 4));
  EXPECT_TRUE(png);
  ASSERT_EQ(v["some"].files.size(), 1u);
  EXPECT_EQ(v["some"].files[0].path, "conf/app.conf");
  EXPECT_EQ(v["some"].files[0].mode, 0600);
  ASSERT_EQ(v["sec"].files.size(), 1u);
  EXPECT_EQ(v["sec"].files[0].content, "s3cret");
  EXPECT_EQ(v["sec"].files[0].mode, 0400);
  EXPECT_EQ(v["proj"].files.size(), 2u);
  ASSERT_EQ(v["info"].files.size(), 2u);
  EXPECT_EQ(v["info"].files[0].content, "app=\"web\"\n");
  EXPECT_EQ(v["info"].files[1].content, "web-1");
  EXPECT_EQ(v["gpio"].kind, protocol::Volume::Kind::kHostPath);
  EXPECT_EQ(v["gpio"].hostPath, "/dev/gpiomem");
  EXPECT_EQ(v["tmp"].kind, protocol::Volume::Kind::kEmptyDir);
  EXPECT_EQ(v["tmp"].medium, "Memory");
  EXPECT_EQ(v["tmp"].sizeLimitBytes, 64 << 20);
  EXPECT_EQ(v["scratch"].sizeLimitBytes, 1000);
  EXPECT_FALSE(v.contains("data"));
  EXPECT_TRUE(warned(*m, "persistentVolumeClaim volume \"data\" is not supported"));
  EXPECT_TRUE(warned(*m, "subPathExpr"));
  ASSERT_EQ(s.mounts.size(), 7u);  // the unsupported volume's mount is left out
  EXPECT_TRUE(s.mounts[1].readOnly);
  EXPECT_EQ(s.mounts[2].subPath, "password");
  // One pod volume, mounted by both containers (the sandbox shares it).
  EXPECT_EQ(m->pod.containers[1].mounts[0].volume, "scratch");
}

TEST_F(PodMappingTest, ImagePullSecretsBecomeRegistryCredentials) {
  reader.secrets["shop/regcred"] = {
      {"type", "kubernetes.io/dockerconfigjson"},
      {"data",
       {{".dockerconfigjson",
         common::base64Encode(R"({"auths":{"https://index.docker.io/v1/":{"auth":")" +
                              common::base64Encode("alice:pw1") +
                              R"("},"127.0.0.1:5000":{"username":"bob","password":"pw2"}}})")}}}};
  reader.secrets["shop/old"] = {
      {"type", "kubernetes.io/dockercfg"},
      {"data",
       {{".dockercfg",
         common::base64Encode(R"({"registry.example.com":{"username":"c","password":"d"}})")}}}};
  auto m = map(pod(Json::array({{{"name", "a"}, {"image", "x:1"}}}),
                   {{"imagePullSecrets", {{{"name", "regcred"}}, {{"name", "old"}}}}}));
  SKIFF_ASSERT_OK(m);
  ASSERT_EQ(m->credentials.size(), 3u);
  std::map<std::string, protocol::RegistryCredential> byServer;
  for (const auto& c : m->credentials) byServer[c.server] = c;
  EXPECT_EQ(byServer["index.docker.io"].username, "alice");
  EXPECT_EQ(byServer["index.docker.io"].password, "pw1");
  EXPECT_EQ(byServer["127.0.0.1:5000"].password, "pw2");
  EXPECT_EQ(byServer["registry.example.com"].username, "c");
  EXPECT_NE(m->deployment.registry_credentials_json().find("pw2"), std::string::npos);

  reader.secrets["shop/opaque"] = {{"type", "Opaque"}, {"data", Json::object()}};
  auto wrong = map(pod(Json::array({{{"name", "a"}, {"image", "x:1"}}}),
                       {{"imagePullSecrets", {{{"name", "opaque"}}}}}));
  EXPECT_EQ(wrong.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("spec.imagePullSecrets[0]"), std::string::npos);
  auto missing = map(pod(Json::array({{{"name", "a"}, {"image", "x:1"}}}),
                         {{"imagePullSecrets", {{{"name", "nope"}}}}}));
  EXPECT_EQ(missing.status().code(), common::StatusCode::kNotFound);
}

TEST_F(PodMappingTest, TargetingFromSelectorsAffinityAndAnnotation) {
  Json containers = Json::array({{{"name", "a"}, {"image", "x:1"}}});
  auto selectorOf = [&](const Json& extra, const Json& annotations = Json::object()) {
    auto m = map(pod(containers, extra, annotations));
    return m.isOk() ? m->selector : "error: " + m.status().message();
  };
  EXPECT_EQ(
      selectorOf({{"nodeSelector", {{"device.skiff.io/site", "a"}, {"type", "virtual-kubelet"}}}}),
      "site=a");
  Json affinity = {
      {"nodeAffinity",
       {{"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           {{{"matchExpressions",
              {{{"key", "device.skiff.io/arch"}, {"operator", "In"}, {"values", {"arm64", "arm"}}},
               {{"key", "device.skiff.io/legacy"}, {"operator", "DoesNotExist"}},
               {{"key", "device.skiff.io/gpu"}, {"operator", "Exists"}},
               {{"key", "device.skiff.io/rack"}, {"operator", "NotIn"}, {"values", {"r9"}}},
               {{"key", "device.skiff.io/cores"}, {"operator", "Gt"}, {"values", {"2"}}},
               {{"key", "kubernetes.io/os"}, {"operator", "In"}, {"values", {"linux"}}}}}}}}}}}}};
  EXPECT_EQ(selectorOf({{"affinity", affinity}, {"nodeSelector", {{"device.skiff.io/site", "a"}}}},
                       {{"skiff.io/target-selector", "tier in (edge)"}}),
            "arch in (arm,arm64),cores>2,gpu,!legacy,rack notin (r9),site=a,tier in (edge)");
  // Terms are ORed: two with device keys cannot be one selector.
  Json ored = affinity;
  auto& terms =
      ored["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
  terms.push_back(terms[0]);
  EXPECT_NE(selectorOf({{"affinity", ored}}).find("more than one term uses device.skiff.io/ keys"),
            std::string::npos);
  EXPECT_NE(selectorOf({}, {{"skiff.io/target-selector", "a in ("}})
                .find("metadata.annotations[skiff.io/target-selector]"),
            std::string::npos);
  EXPECT_NE(selectorOf({{"nodeSelector", {{"device.skiff.io/example.com/x", "a"}}}})
                .find("is not a device label key"),
            std::string::npos);
  // Device mode: exactly that device, whatever the pod says.
  ctx.deviceId = "pi-7";
  EXPECT_EQ(selectorOf({{"nodeSelector", {{"device.skiff.io/site", "a"}}}}),
            "skiff.io/device-id=pi-7");
}

TEST_F(PodMappingTest, PriorityFromAnnotation) {
  Json containers = Json::array({{{"name", "a"}, {"image", "x:1"}}});
  auto m = map(pod(containers, Json::object(), {{"skiff.io/priority", "-20"}}));
  SKIFF_ASSERT_OK(m);
  EXPECT_EQ(m->deployment.priority(), -20);
  auto bad = map(pod(containers, Json::object(), {{"skiff.io/priority", "high"}}));
  EXPECT_EQ(bad.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(
                "metadata.annotations[skiff.io/priority]: \"high\" is not a 32-bit integer"),
            std::string::npos)
      << bad.status();
}

TEST_F(PodMappingTest, InitContainersSidecarsAndPodSettings) {
  Json app = {{"name", "app"}, {"image", "x:1"}};
  Json init = {{"name", "init"}, {"image", "busybox:1"}, {"command", {"sh", "-c", "true"}}};
  Json side = {{"name", "proxy"},
               {"image", "proxy:1"},
               {"restartPolicy", "Always"},
               {"startupProbe", {{"tcpSocket", {{"port", 9000}}}}},
               {"ports", {{{"containerPort", 9000}}}}};
  Json sc = {{"runAsUser", 1000},
             {"runAsGroup", 3000},
             {"runAsNonRoot", true},
             {"supplementalGroups", {4000}},
             {"fsGroup", 2000},
             {"sysctls", {{{"name", "net.ipv4.ip_unprivileged_port_start"}, {"value", "80"}}}},
             {"seccompProfile", {{"type", "Unconfined"}}},
             {"fsGroupChangePolicy", "OnRootMismatch"}};
  auto m = map(pod(Json::array({app}), {{"initContainers", {init, side}},
                                        {"hostIPC", true},
                                        {"shareProcessNamespace", true},
                                        {"hostname", "gateway"},
                                        {"securityContext", sc}}));
  SKIFF_ASSERT_OK(m);
  const auto& p = m->pod;
  ASSERT_EQ(p.initContainers.size(), 2u);
  EXPECT_EQ(p.initContainers[0].name, "init");
  EXPECT_FALSE(protocol::isSidecar(p.initContainers[0]));
  EXPECT_TRUE(protocol::isSidecar(p.initContainers[1]));
  EXPECT_TRUE(p.initContainers[1].startupProbe.has_value());
  EXPECT_TRUE(p.hostIPC);
  EXPECT_TRUE(p.shareProcessNamespace);
  EXPECT_FALSE(p.hostNetwork);
  EXPECT_EQ(p.hostname, "gateway");
  EXPECT_EQ(p.securityContext.runAsUser, 1000);
  EXPECT_EQ(p.securityContext.runAsGroup, 3000);
  EXPECT_EQ(p.securityContext.runAsNonRoot, true);
  EXPECT_EQ(p.securityContext.supplementalGroups, std::vector<std::int64_t>{4000});
  EXPECT_EQ(p.securityContext.fsGroup, 2000);
  ASSERT_EQ(p.securityContext.sysctls.size(), 1u);
  EXPECT_EQ(p.securityContext.seccompProfile, "Unconfined");
  EXPECT_TRUE(warned(*m, "spec.securityContext.fsGroupChangePolicy"));
  EXPECT_FALSE(warned(*m, "initContainers"));
  auto host = map(pod(Json::array({app}), {{"hostNetwork", true}, {"hostPID", true}}));
  SKIFF_ASSERT_OK(host);
  EXPECT_TRUE(host->pod.hostNetwork);
  EXPECT_TRUE(host->pod.hostPID);
  EXPECT_TRUE(host->warnings.empty());
}

TEST_F(PodMappingTest, UnsupportedFieldsAreWarnings) {
  Json c = {{"name", "a"},
            {"image", "x:1"},
            {"lifecycle", {{"preStop", {{"tcpSocket", {{"port", 80}}}}}}},
            {"tty", true}};
  auto m = map(pod(Json::array({c}), {{"hostAliases", {{{"ip", "1.2.3.4"}}}},
                                      {"securityContext", {{"seLinuxOptions", {{"level", "s0"}}}}},
                                      {"ephemeralContainers", {{{"name", "dbg"}}}},
                                      {"activeDeadlineSeconds", 60}}));
  SKIFF_ASSERT_OK(m);
  for (const char* w :
       {"spec.hostAliases", "spec.securityContext.seLinuxOptions", "spec.activeDeadlineSeconds",
        "spec.ephemeralContainers", "spec.containers[0].lifecycle.preStop.tcpSocket",
        "spec.containers[0].tty"}) {
    EXPECT_TRUE(warned(*m, w)) << w;
  }
}

TEST_F(PodMappingTest, BadPodsFailWithTheFieldPath) {
  auto errorOf = [&](const Json& c, const Json& extra = Json::object()) {
    auto m = map(pod(Json::array({c}), extra));
    return m.isOk() ? std::string("ok") : m.status().toString();
  };
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}, {"resources", {{"limits", {{"cpu", "lots"}}}}}})
                .find("InvalidArgument: spec.containers[0].resources.limits.cpu"),
            std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"},
                     {"image", "x"},
                     {"env",
                      {{{"name", "X"},
                        {"valueFrom", {{"configMapKeyRef", {{"name", "nope"}, {"key", "k"}}}}}}}}})
                .find("NotFound: spec.containers[0].env[0].valueFrom.configMapKeyRef: configmap "
                      "\"nope\" not found"),
            std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"},
                     {"image", "x"},
                     {"env",
                      {{{"name", "X"},
                        {"valueFrom", {{"configMapKeyRef", {{"name", "cfg"}, {"key", "k"}}}}}}}}})
                .find("key \"k\" not found in configmap \"cfg\""),
            std::string::npos);
  EXPECT_NE(
      errorOf({{"name", "a"}, {"image", "x"}, {"livenessProbe", {{"httpGet", {{"port", "web"}}}}}})
          .find("spec.containers[0].livenessProbe.httpGet.port: no container port named \"web\""),
      std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}, {"ports", {{{"containerPort", 70000}}}}})
                .find("spec.containers[0].ports[0].containerPort"),
            std::string::npos);
  EXPECT_NE(
      errorOf(
          {{"name", "a"}, {"image", "x"}, {"volumeMounts", {{{"name", "v"}, {"mountPath", "/v"}}}}})
          .find("spec.containers[0].volumeMounts[0].name: no volume named \"v\""),
      std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}, {"workingDir", "relative"}})
                .find("spec.containers[0].workingDir"),
            std::string::npos);
  EXPECT_NE(
      errorOf({{"name", "a"}, {"image", ""}}).find("spec.containers[0].image: Required value"),
      std::string::npos);
  // Issue #19's bad input: an init container without an image, two containers with one port,
  // a negative sizeLimit, a mount of an unknown volume.
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}}, {{"initContainers", {{{"name", "i"}}}}})
                .find("spec.initContainers[0].image: Required value"),
            std::string::npos);
  {
    auto m = map(
        pod(Json::array({{{"name", "a"}, {"image", "x"}, {"ports", {{{"containerPort", 80}}}}},
                         {{"name", "b"}, {"image", "x"}, {"ports", {{{"containerPort", 80}}}}}})));
    EXPECT_NE(m.status().message().find(
                  "spec.containers[1].ports[0].containerPort: duplicate port 80/TCP"),
              std::string::npos)
        << m.status();
  }
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}},
                    {{"volumes", {{{"name", "v"}, {"emptyDir", {{"sizeLimit", "-1Gi"}}}}}}})
                .find("spec.volumes[0].emptyDir.sizeLimit: must not be negative"),
            std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}, {"restartPolicy", "Always"}})
                .find("may not be set for non-init containers"),
            std::string::npos);
  EXPECT_NE(errorOf({{"name", "a"}, {"image", "x"}}, {{"restartPolicy", "Sometimes"}})
                .find("spec.restartPolicy"),
            std::string::npos);
  Json badName = pod(Json::array({{{"name", "a"}, {"image", "x"}}}));
  badName["metadata"]["name"] = "Web_1";
  auto m = map(badName);
  EXPECT_NE(m.status().message().find("metadata.name"), std::string::npos) << m.status();
}

}  // namespace
}  // namespace skiff::edge_provider
