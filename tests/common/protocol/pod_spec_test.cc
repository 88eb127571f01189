// Pod specs (common/protocol/pod_spec.h): round trips and canonical hashes, strict validation
// naming the field (bad containers, the pod-wide rules: unique names, one owner per port in the
// shared network namespace, mounts of pod volumes, what init containers may not have), and the
// schema-1 conversion of legacy modules.
#include "common/protocol/pod_spec.h"

#include <gtest/gtest.h>

#include "tests/support/status_assert.h"

namespace skiff::common::protocol {
namespace {

PodSpec fullPod() {
  PodSpec p;
  p.name = "web-1";
  p.deploymentId = "default.web-1-abcdef0123";
  p.restartPolicy = RestartPolicy::kOnFailure;
  p.terminationGracePeriodSeconds = 20;
  p.hostIPC = true;
  p.shareProcessNamespace = true;
  p.hostname = "web";
  p.securityContext.runAsUser = 1000;
  p.securityContext.runAsGroup = 3000;
  p.securityContext.runAsNonRoot = true;
  p.securityContext.supplementalGroups = {4000};
  p.securityContext.fsGroup = 2000;
  p.securityContext.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "80"}};
  p.securityContext.seccompProfile = "RuntimeDefault";
  Volume files{"cfg", Volume::Kind::kFiles, {{"app.conf", std::string("a=1\0b", 5), 0600}}, "", "",
               0};
  Volume cache{"cache", Volume::Kind::kEmptyDir, {}, "", "Memory", 64 << 20};
  Volume gpio{"gpio", Volume::Kind::kHostPath, {}, "/dev/gpiomem", "", 0};
  p.volumes = {files, cache, gpio};
  ContainerSpec init;
  init.name = "setup";
  init.image = "busybox";
  init.command = {"sh", "-c", "echo hi > /cache/x"};
  init.mounts = {{"cache", "/cache", false, ""}};
  ContainerSpec side;
  side.name = "proxy";
  side.image = "proxy:1";
  side.restartPolicy = RestartPolicy::kAlways;
  Probe started;
  started.kind = Probe::Kind::kTcpSocket;
  started.port = 9000;
  side.startupProbe = started;
  side.ports = {{9000, 0, "TCP", ""}};
  p.initContainers = {init, side};
  ContainerSpec web;
  web.name = "nginx";
  web.image = "127.0.0.1:5000/busybox:latest";
  web.pullPolicy = PullPolicy::kAlways;
  web.command = {"sh", "-c"};
  web.args = {"echo hi; sleep 100"};
  web.workingDir = "/srv";
  web.env = {{"MODE", "prod"}, {"EMPTY", ""}};
  web.ports = {{8080, 18080, "TCP", ""}, {53, 0, "UDP", "127.0.0.1"}};
  web.resources = {250, 64 * 1024 * 1024};
  web.mounts = {{"cfg", "/etc/app", true, ""},
                {"cache", "/cache", false, "sub"},
                {"gpio", "/dev/gpiomem", false, ""}};
  Probe live;
  live.kind = Probe::Kind::kHttpGet;
  live.path = "/healthz";
  live.port = 8080;
  live.httpHeaders = {{"X-Probe", "1"}};
  web.livenessProbe = live;
  Probe ready;
  ready.kind = Probe::Kind::kExec;
  ready.command = {"cat", "/tmp/ready"};
  ready.periodSeconds = 2;
  web.readinessProbe = ready;
  Handler post;
  post.kind = Handler::Kind::kExec;
  post.command = {"touch", "/tmp/started"};
  Handler pre;
  pre.kind = Handler::Kind::kSleep;
  pre.sleepSeconds = 5;
  web.lifecycle = {post, pre};
  web.securityContext.privileged = false;
  web.securityContext.runAsUser = 1001;
  web.securityContext.readOnlyRootFilesystem = true;
  web.securityContext.allowPrivilegeEscalation = false;
  web.securityContext.capabilitiesAdd = {"NET_BIND_SERVICE"};
  web.securityContext.capabilitiesDrop = {"ALL"};
  web.securityContext.seccompProfile = "Unconfined";
  ContainerSpec writer;
  writer.name = "writer";
  writer.image = "busybox";
  writer.mounts = {{"cache", "/out", false, ""}};
  p.containers = {web, writer};
  return p;
}

TEST(PodSpecTest, RoundTripsThroughJsonWithStableHashes) {
  PodSpec p = fullPod();
  auto back = podSpecFromJson(parseJson(dumpJson(toJson(p))).value());
  SKIFF_ASSERT_OK(back);
  EXPECT_EQ(*back, p);
  EXPECT_EQ(specHash(*back), specHash(p));
  EXPECT_EQ(dumpJson(toJson(*back)), dumpJson(toJson(p)));  // canonical: the hub and agent agree
  PodSpec changed = p;
  changed.containers[0].env[0].value = "dev";
  EXPECT_NE(specHash(changed), specHash(p));
  EXPECT_TRUE(isSidecar(p.initContainers[1]));
  EXPECT_FALSE(isSidecar(p.initContainers[0]));
  EXPECT_EQ(moduleName("web-1", "nginx"), "web-1/nginx");
  EXPECT_EQ(podOfModule("web-1/nginx"), "web-1");
}

TEST(PodSpecTest, MinimalPodGetsKubernetesDefaults) {
  auto p = podSpecFromJson(
      Json{{"name", "a"}, {"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}});
  SKIFF_ASSERT_OK(p);
  EXPECT_EQ(p->restartPolicy, RestartPolicy::kAlways);
  EXPECT_EQ(p->terminationGracePeriodSeconds, 30);
  EXPECT_EQ(p->containers[0].pullPolicy, PullPolicy::kIfNotPresent);
  EXPECT_FALSE(p->hostNetwork);
}

struct BadPod {
  const char* json;
  const char* wantInMessage;
};

class BadPodTest : public testing::TestWithParam<BadPod> {};

TEST_P(BadPodTest, IsRejectedNamingTheField) {
  auto j = parseJson(GetParam().json);
  ASSERT_TRUE(j.isOk()) << GetParam().json;
  auto p = podSpecFromJson(*j, "pods[0]");
  ASSERT_FALSE(p.isOk()) << GetParam().json;
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find(GetParam().wantInMessage), std::string::npos)
      << p.status().message();
}

#define C1 R"("containers":[{"name":"c","image":"x"}])"

INSTANTIATE_TEST_SUITE_P(
    Cases, BadPodTest,
    testing::Values(
        BadPod{R"({"containers":[{"name":"c","image":"x"}]})", "pods[0].name: required"},
        BadPod{R"({"name":"A",)" C1 "}", "pods[0].name"},
        BadPod{R"({"name":"a/b",)" C1 "}", "may contain only"},
        BadPod{R"({"name":"a"})", "pods[0].containers: required"},
        BadPod{R"({"name":"a","containers":[]})", "at least one container"},
        BadPod{R"({"name":"a","containers":[{"name":"c"}]})", "containers[0].image: required"},
        BadPod{R"({"name":"a","initContainers":[{"name":"i"}],)" C1 "}",
               "pods[0].initContainers[0].image: required"},
        BadPod{R"({"name":"a","containers":[{"name":"C","image":"x"}]})", "containers[0].name"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x y"}]})", "whitespace"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x","imagee":"y"}]})",
               "containers[0].imagee: unknown field"},
        BadPod{R"({"name":"a","podField":1,)" C1 "}", "pods[0].podField: unknown field"},
        BadPod{R"({"name":"a","restartPolicy":"Sometimes",)" C1 "}", "Always, OnFailure"},
        BadPod{R"({"name":"a","terminationGracePeriodSeconds":-1,)" C1 "}",
               "terminationGracePeriodSeconds"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x"},{"name":"c","image":"y"}]})",
               "duplicate container name \"c\""},
        BadPod{R"({"name":"a","initContainers":[{"name":"c","image":"x"}],)" C1 "}",
               "duplicate container name"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","ports":[{"containerPort":80}]},{"name":"d","image":"x","ports":[{"containerPort":80}]}]})",
            "containers[1].ports[0].containerPort: duplicate port 80/TCP"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","ports":[{"containerPort":80,"hostPort":8080}]},{"name":"d","image":"x","ports":[{"containerPort":81,"hostPort":8080}]}]})",
            "hostPort: duplicate host port 8080/TCP"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","ports":[{"containerPort":0}]}]})",
            "ports[0].containerPort: must be between 1 and 65535"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","mounts":[{"volume":"nope","mountPath":"/x"}]}]})",
            "containers[0].mounts[0].volume: no volume named \"nope\""},
        BadPod{R"({"name":"a","volumes":[{"name":"v","type":"emptyDir","sizeLimitBytes":-1}],)" C1
               "}",
               "volumes[0].sizeLimitBytes: must not be negative"},
        BadPod{R"({"name":"a","volumes":[{"name":"v","type":"emptyDir","medium":"Disk"}],)" C1 "}",
               "medium"},
        BadPod{
            R"({"name":"a","volumes":[{"name":"v","type":"hostPath","hostPath":"/x","medium":"Memory"}],)" C1
            "}",
            "only allowed for type emptyDir"},
        BadPod{
            R"({"name":"a","volumes":[{"name":"v","type":"files","files":[{"path":"../etc/passwd","content":""}]}],)" C1
            "}",
            "'..'"},
        BadPod{
            R"({"name":"a","volumes":[{"name":"v","type":"emptyDir"},{"name":"v","type":"emptyDir"}],)" C1
            "}",
            "duplicate volume"},
        BadPod{R"({"name":"a","volumes":[{"name":"v"}],)" C1 "}", "type: required"},
        BadPod{
            R"({"name":"a","initContainers":[{"name":"i","image":"x","readinessProbe":{"exec":{"command":["a"]}}}],)" C1
            "}",
            "initContainers[0].readinessProbe: must not be set for init containers"},
        BadPod{
            R"({"name":"a","initContainers":[{"name":"i","image":"x","restartPolicy":"Never"}],)" C1
            "}",
            "must be Always"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x","restartPolicy":"Always"}]})",
               "may not be set for non-init containers"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x","livenessProbe":{}}]})",
               "exactly one of exec, httpGet, tcpSocket"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x","lifecycle":{"preStop":{}}}]})",
               "exactly one of exec, httpGet, sleep"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","lifecycle":{"preStop":{"sleep":{"seconds":-1}}}}]})",
            "lifecycle.preStop.sleep.seconds"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","securityContext":{"capabilitiesAdd":["net_admin"]}}]})",
            "not a capability name"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","securityContext":{"runAsUser":-1}}]})",
            "runAsUser"},
        BadPod{
            R"({"name":"a","containers":[{"name":"c","image":"x","securityContext":{"privileged":true,"allowPrivilegeEscalation":false}}]})",
            "allowPrivilegeEscalation"},
        BadPod{R"({"name":"a","securityContext":{"seccompProfile":"Localhost"},)" C1 "}",
               "RuntimeDefault or Unconfined"},
        BadPod{
            R"({"name":"a","hostNetwork":true,"securityContext":{"sysctls":[{"name":"net.core.somaxconn","value":"1"}]},)" C1
            "}",
            "hostNetwork"},
        BadPod{R"({"name":"a","hostPID":true,"shareProcessNamespace":true,)" C1 "}",
               "shareProcessNamespace"},
        BadPod{R"({"name":"a","containers":[{"name":"c","image":"x","command":["ok",3]}]})",
               "command[1]: expected string"},
        BadPod{R"("just a string")", "pods[0]: expected object"}));

TEST(PodSpecTest, DuplicatePodNamesAreRejected) {
  auto ps = podSpecsFromJson(parseJson(R"([{"name":"a",)" C1 R"(},{"name":"a",)" C1 "}]").value());
  ASSERT_FALSE(ps.isOk());
  EXPECT_NE(ps.status().message().find("pods[1].name: duplicate pod"), std::string::npos);
  EXPECT_FALSE(podSpecsFromJson(Json::object()).isOk());
}

TEST(PodSpecTest, LegacyModulesBecomePodsOfOneContainer) {
  auto legacy = parseJson(R"([
    {"name":"web/nginx","deploymentId":"d","image":"nginx","restartPolicy":"OnFailure",
     "stopTimeoutSeconds":3,"privileged":true,"volumes":[{"name":"v","type":"emptyDir"}],
     "mounts":[{"volume":"v","mountPath":"/v"}]},
    {"name":"solo","image":"busybox"}])");
  auto pods = podsJsonFromLegacyModules(*legacy);
  SKIFF_ASSERT_OK(pods);
  auto parsed = podSpecsFromJson(*pods);
  SKIFF_ASSERT_OK(parsed);
  ASSERT_EQ(parsed->size(), 2u);
  const PodSpec& web = (*parsed)[0];
  EXPECT_EQ(web.name, "web-nginx");
  EXPECT_EQ(web.deploymentId, "d");
  EXPECT_EQ(web.restartPolicy, RestartPolicy::kOnFailure);
  EXPECT_EQ(web.terminationGracePeriodSeconds, 3);
  ASSERT_EQ(web.containers.size(), 1u);
  EXPECT_EQ(web.containers[0].name, "nginx");
  EXPECT_TRUE(web.containers[0].securityContext.privileged);
  EXPECT_EQ(web.volumes.size(), 1u);
  EXPECT_EQ((*parsed)[1].name, "solo");
  EXPECT_EQ((*parsed)[1].containers[0].name, "solo");
  EXPECT_EQ((*parsed)[1].terminationGracePeriodSeconds, 10);  // schema 1's default
  EXPECT_EQ(legacyModuleName("web/nginx"), "web-nginx/nginx");
  // A bad legacy module is refused naming its field.
  auto bad = podsJsonFromLegacyModules(parseJson(R"([{"name":"a","image":5}])").value());
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("image"), std::string::npos) << bad.status();
  EXPECT_FALSE(podsJsonFromLegacyModules(parseJson(R"([{"image":"x"}])").value()).isOk());
}

TEST(PodSpecTest, NameRules) {
  SKIFF_EXPECT_OK(validatePodName("web-7d9f.v2"));
  EXPECT_FALSE(validatePodName("").isOk());
  EXPECT_FALSE(validatePodName("a_b").isOk());
  EXPECT_FALSE(validatePodName(std::string(254, 'a')).isOk());
  SKIFF_EXPECT_OK(validateContainerName("nginx-1"));
  EXPECT_FALSE(validateContainerName("a.b").isOk());
  EXPECT_FALSE(validateContainerName(std::string(64, 'a')).isOk());
  SKIFF_EXPECT_OK(validateModuleName(std::string(253, 'a') + "/" + std::string(63, 'b')));
}

}  // namespace
}  // namespace skiff::common::protocol
