// Protobuf request bodies (control_plane/apiserver/protobuf_body.h), without a server: bodies
// built as Kubernetes' protobuf encoding document describes them — the 4-byte "k8s\0" magic,
// then runtime.Unknown{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2} wrapping the object,
// with field numbers from k8s.io/api's generated.proto files — decoded to the JSON kubectl would
// have sent.
#include "control_plane/apiserver/protobuf_body.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {
namespace {

using common::Json;

// Protobuf wire format: varint tags and lengths (https://protobuf.dev/programming-guides/encoding).
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string bytesField(int number, const std::string& payload) {
  return varint((static_cast<std::uint64_t>(number) << 3) | 2) + varint(payload.size()) + payload;
}
std::string intField(int number, std::uint64_t v) {
  return varint(static_cast<std::uint64_t>(number) << 3) + varint(v);
}
std::string mapEntry(int number, const std::string& k, const std::string& v) {
  return bytesField(number, bytesField(1, k) + bytesField(2, v));
}
std::string unknown(const std::string& apiVersion, const std::string& kind,
                    const std::string& raw) {
  return std::string("k8s\0", 4) + bytesField(1, bytesField(1, apiVersion) + bytesField(2, kind)) +
         bytesField(2, raw);
}

const ResourceInfo& configMaps() { return *findResource("", "v1", "configmaps"); }
const ResourceInfo& deployments() { return *findResource("apps", "v1", "deployments"); }

TEST(ProtobufBodyTest, ConfigMapAsKubectlCreateConfigmapSendsIt) {
  std::string meta =
      bytesField(1, "settings") + bytesField(3, "default") + mapEntry(11, "app", "web");
  std::string cm = bytesField(1, meta) + mapEntry(2, "mode", "fast") +
                   mapEntry(3, "blob", std::string("\x00\x01", 2));
  auto j = decodeProtobufBody(configMaps(), unknown("v1", "ConfigMap", cm));
  ASSERT_TRUE(j.isOk()) << j.status();
  EXPECT_EQ((*j)["kind"], "ConfigMap");
  EXPECT_EQ((*j)["apiVersion"], "v1");
  EXPECT_EQ((*j)["metadata"]["name"], "settings");
  EXPECT_EQ((*j)["metadata"]["namespace"], "default");
  EXPECT_EQ((*j)["metadata"]["labels"]["app"], "web");
  EXPECT_EQ((*j)["data"]["mode"], "fast");
  EXPECT_EQ((*j)["binaryData"]["blob"], "AAE=");  // bytes become base64, as in JSON
}

TEST(ProtobufBodyTest, DeploymentWithTemplateContainersAndIntOrString) {
  std::string port = intField(3, 8080) + bytesField(4, "TCP");
  std::string container = bytesField(1, "web") + bytesField(2, "nginx:1.25") +
                          bytesField(4, "--verbose") + bytesField(6, port);
  std::string podSpec = bytesField(2, container) + bytesField(3, "Always");
  std::string tmpl = bytesField(1, mapEntry(11, "app", "web")) + bytesField(2, podSpec);
  // rollingUpdate.maxSurge = IntOrString{type 1 (string), strVal "50%"}; maxUnavailable = 0 int.
  std::string rolling = bytesField(1, intField(1, 0) + intField(2, 0)) +
                        bytesField(2, intField(1, 1) + bytesField(3, "50%"));
  std::string strategy = bytesField(1, "RollingUpdate") + bytesField(2, rolling);
  std::string spec = intField(1, 0) /* replicas: 0, a pointer field, so present */ +
                     bytesField(2, mapEntry(1, "app", "web")) + bytesField(3, tmpl) +
                     bytesField(4, strategy);
  std::string dep = bytesField(1, bytesField(1, "web")) + bytesField(2, spec);
  auto j = decodeProtobufBody(deployments(), unknown("apps/v1", "Deployment", dep));
  ASSERT_TRUE(j.isOk()) << j.status();
  const Json& s = (*j)["spec"];
  EXPECT_EQ(s["replicas"], 0);
  EXPECT_EQ(s["selector"]["matchLabels"]["app"], "web");
  const Json& c = s["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "nginx:1.25");
  EXPECT_EQ(c["args"], Json::array({"--verbose"}));
  EXPECT_EQ(c["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(s["template"]["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(s["strategy"]["rollingUpdate"]["maxSurge"], "50%");
  EXPECT_EQ(s["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
}

TEST(ProtobufBodyTest, WrongKindsAndBrokenBytesAreRefused) {
  std::string cm = bytesField(1, bytesField(1, "x"));
  // Another kind than the resource posted to, a kind not decoded, no magic, truncated bytes.
  std::vector<std::pair<const ResourceInfo*, std::string>> bad = {
      {&deployments(), unknown("v1", "ConfigMap", cm)},
      {&configMaps(), unknown("v1", "Pod", cm)},
      {&configMaps(), "{\"kind\":\"ConfigMap\"}"},
      {&configMaps(), unknown("v1", "ConfigMap", cm).substr(0, 12)},
      {&configMaps(), unknown("v1", "ConfigMap", bytesField(1, "\xff\xff\xff"))}};
  for (const auto& [r, body] : bad) {
    auto j = decodeProtobufBody(*r, body);
    EXPECT_FALSE(j.isOk()) << j->dump();
    if (!j.isOk()) {
      EXPECT_EQ(j.status().code(), common::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ProtobufBodyTest, SelfSubjectAccessReviewOfKubectlAuthCanI) {
  std::string attrs = bytesField(1, "default") + bytesField(2, "create") + bytesField(5, "pods");
  std::string review = bytesField(2, bytesField(1, attrs));
  auto j =
      decodeProtobufObject(unknown("authorization.k8s.io/v1", "SelfSubjectAccessReview", review));
  ASSERT_TRUE(j.isOk()) << j.status();
  const Json& ra = (*j)["spec"]["resourceAttributes"];
  EXPECT_EQ(ra["verb"], "create");
  EXPECT_EQ(ra["resource"], "pods");
  EXPECT_EQ(ra["namespace"], "default");
}

}  // namespace
}  // namespace skiff::control_plane::apiserver
