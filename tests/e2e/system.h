// The whole Skiff system for end-to-end tests and the e2e benchmark, every part real and on
// 127.0.0.1 ephemeral ports in temp dirs: docker-registry with busybox, Podman's Docker API,
// skiff-hub with its Mosquitto (TLS, CRL, ACL; tests/support/hub.h), optionally
// skiff-control-plane (scheduler + controllers) with the real kubectl, real skiff-agent processes
// enrolled through the operator's flow (skiffctl device add → skiffctl token create →
// skiff-agent enroll), and skiff-virtual-node in fleet or device mode against the real hub.
//
//   auto sys = System::create({.name = "fleet", .controlPlane = true}).value();
//   sys->addAgent("pi-a", {{"site", "a"}});           // enrolled and running
//   sys->startVirtualNode(false);
//   sys->kubectl().ok({"apply", "-f", sys->file("d.yaml", yaml)});
//
// All agents share the one Podman (each only touches the containers it labelled with its device
// id). Processes are stopped by PID in reverse order of creation when the System is destroyed;
// if the test failed, the logs of every part are printed first. Not thread-safe: create and use
// it on the test's main thread (child processes die with the thread that forked them).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/edge_agent/agent_harness.h"
#include "tests/support/hub.h"
#include "tests/support/podman.h"
#include "tests/support/process.h"
#include "tests/support/registry.h"
#include "tests/virtual_node/virtual_node_process.h"

namespace skiff::test {

struct SystemOptions {
  std::string name = "e2e";   // temp dir prefix
  bool controlPlane = false;  // start skiff-control-plane + kubectl
  std::vector<std::string> controlPlaneArgs;
  std::vector<std::string> hubArgs;  // extra `skiff-hub run` flags
  // Agents' extra `skiff-agent run` flags.
  std::vector<std::string> agentArgs;
  // Log level of every part. "debug" (tests) also gives the agents test intervals (sync 500 ms,
  // heartbeat 3 s, metrics 2 s); anything else (benchmarks) their production defaults.
  std::string logLevel = "debug";
};

// How an agent gets its first trust anchor for the hub's HTTPS endpoint (docs/agent.md).
enum class Bootstrap { kCaFile, kCaSha256 };

class System {
 public:
  static common::Result<std::unique_ptr<System>> create(SystemOptions opts = {});
  ~System();
  System(const System&) = delete;
  System& operator=(const System&) = delete;

  HubFixture& hub() { return *hub_; }
  RegistryFixture& registry() { return *registry_; }
  PodmanFixture& podman() { return *podman_; }
  ControlPlaneProcess& controlPlane() { return *cp_; }
  Kubectl& kubectl() { return *kubectl_; }
  VirtualNodeProcess& virtualNode() { return *vn_; }
  const std::string& dir() const { return dir_.path(); }
  // Writes content to <dir>/<name> and returns the path.
  std::string file(const std::string& name, const std::string& content) const;

  // skiffctl with the hub's admin config (skiff-hub init writes it).
  common::Result<CommandResult> skiffctl(
      const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // skiffctl, Internal with the output unless it exited 0.
  common::Result<std::string> skiffctlOk(const std::vector<std::string>& args);
  // argv prefix of skiffctl (for long-running ones such as `logs -f`).
  std::vector<std::string> skiffctlArgv() const;

  // Operator flow: `skiffctl device add ID -l k=v...`, `skiffctl token create ID`,
  // `skiff-agent enroll --hub ... --token ... (--ca-file | --ca-sha256)`, then starts the agent
  // and waits until the hub sees it online. ownEngine: the agent gets its own Podman instead of
  // the shared one (agents name containers after module and spec, so two agents running the
  // same module need separate engines, as separate devices have).
  common::Status addAgent(const std::string& id, const std::map<std::string, std::string>& labels,
                          Bootstrap bootstrap = Bootstrap::kCaFile, bool ownEngine = false);
  AgentProcess& agent(const std::string& id) { return *agents_.at(id); }
  std::string agentStateDir(const std::string& id) const;

  // Starts skiff-virtual-node against the control plane and the real hub (admin token).
  common::Status startVirtualNode(bool nodePerDevice, std::vector<std::string> extraArgs = {});

  // The Podman an agent uses (the shared one unless it got its own).
  PodmanFixture& engineOf(const std::string& deviceId);

  // ---- Observations ----
  // Containers (Docker API JSON, all states) the agent `deviceId` created in its Podman.
  common::Result<std::vector<common::Json>> containers(const std::string& deviceId);
  // Containers of one module on a device.
  common::Result<std::vector<common::Json>> moduleContainers(const std::string& deviceId,
                                                             const std::string& module);
  // Names of the modules `deviceId` runs (containers in state "running").
  std::vector<std::string> runningModules(const std::string& deviceId);
  // `kubectl get <args> -o json`.
  common::Result<common::Json> getJson(const std::vector<std::string>& args);
  // Pods (JSON) in `default` whose name starts with prefix.
  std::vector<common::Json> pods(const std::string& prefix);
  // Rows of `kubectl get pods` in `default`.
  std::vector<std::map<std::string, std::string>> podRows();
  // `skiffctl -o json device get ID`.
  common::Result<common::Json> device(const std::string& id);
  // Online at the hub, with a report ingested.
  bool deviceOnline(const std::string& id);
  // The hub's deployments (REST /api/v1/deployments items).
  common::Result<common::Json> hubDeployments();
  // Whether the Node's Ready condition is True.
  bool nodeReady(const std::string& node);
  // Everything useful when a wait fails: pods, nodes, hub deployments, containers, log tails.
  std::string diagnostics();

 private:
  System(SystemOptions opts, TempDir dir) : opts_(std::move(opts)), dir_(std::move(dir)) {}

  SystemOptions opts_;
  TempDir dir_;
  std::unique_ptr<RegistryFixture> registry_;
  std::unique_ptr<PodmanFixture> podman_;
  std::unique_ptr<HubFixture> hub_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::optional<Kubectl> kubectl_;
  std::map<std::string, std::unique_ptr<PodmanFixture>> ownEngines_;  // outlive the agents
  std::map<std::string, std::unique_ptr<AgentProcess>> agents_;
  std::unique_ptr<VirtualNodeProcess> vn_;
};

// Polls pred every 100 ms until true; false after 60 s (or the timeout given to the call).
inline const Eventually eventually{std::chrono::seconds(60), std::chrono::milliseconds(100)};

// A bare Pod for the virtual node: the provider's toleration, a 1 s grace period and one
// container "main" running `sh -c <script>`; nodeSelector keys as given (e.g.
// device.skiff.io/site). `script` must not contain double quotes.
std::string edgePodYaml(const std::string& name, const std::string& image,
                        const std::string& script,
                        const std::map<std::string, std::string>& nodeSelector = {});

// N of the last "tick N" line in text (-1 if none): the sample workloads count their output.
int lastTick(const std::string& text);

// `kubectl get pod <name> -o json` ({} when that fails).
common::Json podJson(System& sys, const std::string& name);
// The status of one container of the pod: app containers, then init containers ({} if none).
common::Json statusOf(const common::Json& pod, const std::string& container);

}  // namespace skiff::test
