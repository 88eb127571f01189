// Helpers shared by the hub's integration tests: deployment builders, gRPC shortcuts and
// mosquitto_sub/_pub invocations with a device's certificate.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "skiff/v1/hub.grpc.pb.h"
#include "tests/support/hub.h"
#include "tests/support/process.h"

namespace skiff::test {

inline std::string moduleJson(const std::string& name, const std::string& image) {
  return common::dumpJson(common::Json{{"name", name}, {"image", image}});
}

// A deployment of pods given as modules {"<pod>/<container>", image}: containers of the same pod
// name go into one pod; a name without '/' is a pod with one container of that name.
inline v1::Deployment deployment(const std::string& id, const std::string& selector,
                                 const std::vector<std::pair<std::string, std::string>>& modules,
                                 int priority = 0) {
  v1::Deployment d;
  d.set_id(id);
  d.set_target_selector(selector);
  d.set_priority(priority);
  std::vector<std::string> order;
  std::map<std::string, common::Json> pods;
  for (const auto& [name, image] : modules) {
    auto slash = name.find('/');
    std::string pod = name.substr(0, slash);
    std::string container = slash == std::string::npos ? name : name.substr(slash + 1);
    if (!pods.contains(pod)) {
      order.push_back(pod);
      pods[pod] = {{"name", pod}, {"containers", common::Json::array()}};
    }
    pods[pod]["containers"].push_back({{"name", container}, {"image", image}});
  }
  common::Json ps = common::Json::array();
  for (const auto& p : order) ps.push_back(pods[p]);
  d.set_pods_json(common::dumpJson(ps));
  return d;
}

inline grpc::Status apply(HubFixture& hub, const v1::Deployment& d, v1::Deployment* out = nullptr) {
  v1::ApplyDeploymentRequest req;
  *req.mutable_deployment() = d;
  v1::Deployment resp;
  auto s = hub.stub()->ApplyDeployment(hub.context().get(), req, &resp);
  if (out != nullptr) *out = resp;
  return s;
}

inline v1::Device getDevice(HubFixture& hub, const std::string& id) {
  v1::GetDeviceRequest req;
  req.set_id(id);
  v1::Device d;
  auto s = hub.stub()->GetDevice(hub.context().get(), req, &d);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return d;
}

inline v1::Deployment getDeployment(HubFixture& hub, const std::string& id) {
  v1::GetDeploymentRequest req;
  req.set_id(id);
  v1::Deployment d;
  auto s = hub.stub()->GetDeployment(hub.context().get(), req, &d);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return d;
}

// Module names of a device's current desired state as the simulated agent applied it.
inline std::vector<std::string> appliedModules(SimDevice& dev) { return dev.agent().moduleNames(); }

struct MqttCliResult {
  int exitCode = -1;
  std::string output;
};

// mosquitto_sub for one message on topic with the given client certificate (-W seconds).
inline MqttCliResult mosquittoSub(const HubFixture& hub, const std::string& certFile,
                                  const std::string& keyFile, const std::string& topic,
                                  int waitSeconds = 2, const std::string& clientId = "") {
  std::string port = hub.mqttUrl().substr(hub.mqttUrl().rfind(':') + 1);
  std::vector<std::string> argv = {"mosquitto_sub",
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   port,
                                   "--cafile",
                                   hub.caFile(),
                                   "--cert",
                                   certFile,
                                   "--key",
                                   keyFile,
                                   "-t",
                                   topic,
                                   "-C",
                                   "1",
                                   "-W",
                                   std::to_string(waitSeconds),
                                   "-V",
                                   "mqttv5",
                                   "-v"};
  if (!clientId.empty()) {
    argv.push_back("-i");
    argv.push_back(clientId);
  }
  auto r = runCommand(argv, {}, std::chrono::seconds(waitSeconds + 20));
  if (!r.isOk()) return {-1, r.status().toString()};
  return {r->exitCode, r->output};
}

inline MqttCliResult mosquittoPub(const HubFixture& hub, const std::string& certFile,
                                  const std::string& keyFile, const std::string& topic,
                                  const std::string& payload) {
  std::string port = hub.mqttUrl().substr(hub.mqttUrl().rfind(':') + 1);
  auto r = runCommand(
      {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "--cafile", hub.caFile(), "--cert", certFile,
       "--key", keyFile, "-t", topic, "-m", payload, "-q", "1", "-V", "mqttv5"},
      {}, std::chrono::seconds(20));
  if (!r.isOk()) return {-1, r.status().toString()};
  return {r->exitCode, r->output};
}

}  // namespace skiff::test
