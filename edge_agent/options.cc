// Options of skiff-agent.
#include "edge_agent/options.h"

#include <arpa/inet.h>

#include <iostream>

#include "edge_agent/agent.h"
#include "edge_agent/engine/docker_engine.h"
#include "edge_agent/enrollment.h"

namespace skiff::edge_agent {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--state-dir", o.stateDir,
                 "State directory: identity, desired state, module files (mode 0700)")
      ->capture_default_str();
  app.add_option("--engine", o.engineSocket,
                 "Docker Engine API unix socket (Docker, Moby, Podman, balenaEngine)")
      ->capture_default_str();
  app.add_option("--mqtt-url", o.mqttUrl,
                 "MQTT broker URL (mqtts://host:port); default: the one received at enrollment");
  common::addDurationOption(
      app, "--heartbeat-interval", o.heartbeatInterval,
      "How often the reported state is sent again without changes (a safety net; "
      "liveness is presence and its Last Will)");
  common::addDurationOption(app, "--metrics-interval", o.metricsInterval,
                            "How often metrics are sent");
  common::addDurationOption(app, "--sync-interval", o.syncInterval,
                            "How often the engine is polled for container changes");
  common::addDurationOption(
      app, "--renew-check-interval", o.renewCheckInterval,
      "How often the certificate is checked for renewal (renewed when less than a "
      "third of its validity remains)");
  common::addDurationOption(app, "--crash-loop-backoff", o.crashLoopBackoff,
                            "First delay before restarting a crashing container (doubles)");
  common::addDurationOption(app, "--crash-loop-max-backoff", o.crashLoopMaxBackoff,
                            "Longest delay before restarting a crashing container");
  common::addDurationOption(app, "--image-pull-backoff", o.imagePullBackoff,
                            "First delay before retrying a failed image pull (doubles)");
  common::addDurationOption(app, "--image-pull-max-backoff", o.imagePullMaxBackoff,
                            "Longest delay before retrying a failed image pull");
  app.add_option("--workers", o.workers, "Pods reconciled in parallel")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--pod-network", o.podNetwork,
                 "Engine network of pod sandboxes (bridge = the engine's default network, or a "
                 "network's name); hostNetwork pods use the device's")
      ->capture_default_str();
  app.add_option("--pause-binary", o.pauseBinary,
                 "The static skiff-pause program imported as the pod infra image (default: next "
                 "to skiff-agent, then ../lib/skiff-agent/)");
  app.add_option("--pod-infra-image", o.podInfraImage,
                 "An image of your own for pod infra containers, instead of the built-in "
                 "skiff-pause (pulled when missing; started with its own entrypoint)");
  app.add_option("--node-ip", o.nodeIp,
                 "The device's address reported as the pods' hostIP (default: the address of "
                 "the default route's interface)");

  auto* runCmd = app.add_subcommand("run", "Run the agent (default)");
  runCmd->fallthrough();
  runCmd->callback([&o] { o.command = "run"; });
  auto* enrollCmd = app.add_subcommand(
      "enroll",
      "Enroll this device with the hub: generate its key, send a CSR with a one-time token, store "
      "the certificate, CA, hub signing key and MQTT URL in --state-dir");
  enrollCmd->fallthrough();
  enrollCmd->callback([&o] { o.command = "enroll"; });
  enrollCmd->add_option("--hub", o.hub, "Hub URL, https://host:port")->required();
  enrollCmd->add_option("--token", o.token, "One-time enrollment token from the hub")->required();
  enrollCmd->add_option("--ca-file", o.caFile, "CA certificate (PEM) that verifies the hub");
  enrollCmd->add_option("--ca-sha256", o.caSha256,
                        "SHA-256 fingerprint of a certificate the hub presents (its CA), as "
                        "printed by the hub; pins it as the only trust anchor");
  enrollCmd->add_flag("--insecure-skip-tls-verify-for-enroll", o.insecureSkipTlsVerifyForEnroll,
                      "Do not verify the hub at all (lab use only: the token can be stolen)");
  enrollCmd->add_flag("--force", o.force, "Enroll again although the device is enrolled");
  app.require_subcommand(0, 1);
}

common::Status validate(const Options& o) {
  if (o.stateDir.empty()) return common::invalidArgument("--state-dir is required");
  if (o.stateDir.front() != '/') {
    return common::invalidArgument("--state-dir must be an absolute path, got \"" + o.stateDir +
                                   "\"");
  }
  if (o.command == "enroll") {
    EnrollOptions e{o.hub,      o.token, o.caFile, o.caSha256, o.insecureSkipTlsVerifyForEnroll,
                    o.stateDir, o.force};
    return validateEnrollOptions(e);
  }
  if (o.engineSocket.empty() || o.engineSocket.front() != '/') {
    return common::invalidArgument("--engine must be the absolute path of a unix socket, got \"" +
                                   o.engineSocket + "\"");
  }
  if (!o.mqttUrl.empty() && !o.mqttUrl.starts_with("mqtts://") &&
      !o.mqttUrl.starts_with("mqtt://")) {
    return common::invalidArgument("--mqtt-url must start with mqtts:// or mqtt://, got \"" +
                                   o.mqttUrl + "\"");
  }
  if (o.podNetwork.empty() || o.podNetwork.find_first_of(" /:\t") != std::string::npos ||
      o.podNetwork == "host") {
    return common::invalidArgument(
        "--pod-network must name an engine network (e.g. bridge), got "
        "\"" +
        o.podNetwork + "\"");
  }
  if (!o.nodeIp.empty()) {
    in6_addr buf{};
    if (::inet_pton(AF_INET, o.nodeIp.c_str(), &buf) != 1 &&
        ::inet_pton(AF_INET6, o.nodeIp.c_str(), &buf) != 1) {
      return common::invalidArgument("--node-ip must be an IP address, got \"" + o.nodeIp + "\"");
    }
  }
  if (!o.pauseBinary.empty() && o.pauseBinary.front() != '/') {
    return common::invalidArgument("--pause-binary must be an absolute path, got \"" +
                                   o.pauseBinary + "\"");
  }
  if (!o.podInfraImage.empty()) {
    if (auto ref = engine::parseImageRef(o.podInfraImage); !ref.isOk()) {
      return ref.status().withContext("--pod-infra-image");
    }
  }
  if (o.crashLoopBackoff > o.crashLoopMaxBackoff) {
    return common::invalidArgument("--crash-loop-backoff must not exceed --crash-loop-max-backoff");
  }
  if (o.imagePullBackoff > o.imagePullMaxBackoff) {
    return common::invalidArgument("--image-pull-backoff must not exceed --image-pull-max-backoff");
  }
  return common::Status::ok();
}

common::Status run(const Options& o, std::stop_token stop) {
  if (o.command == "enroll") {
    EnrollOptions e{o.hub,      o.token, o.caFile, o.caSha256, o.insecureSkipTlsVerifyForEnroll,
                    o.stateDir, o.force};
    SKIFF_ASSIGN_OR_RETURN(Identity id, enroll(e));
    std::cout << "enrolled as " << id.deviceId << " (MQTT " << id.mqttUrl << ", state in "
              << o.stateDir << ")\n"
              << "start the agent: systemctl enable --now skiff-agent   (or: skiff-agent run "
                 "--state-dir "
              << o.stateDir << ")" << std::endl;
    return common::Status::ok();
  }
  AgentConfig c;
  c.stateDir = o.stateDir;
  c.engineSocket = o.engineSocket;
  c.mqttUrl = o.mqttUrl;
#ifdef SKIFF_AGENT_VERSION
  c.agentVersion = SKIFF_AGENT_VERSION;
#endif
  c.heartbeatInterval = o.heartbeatInterval;
  c.metricsInterval = o.metricsInterval;
  c.renewCheckInterval = o.renewCheckInterval;
  c.reconciler.relistInterval = o.syncInterval;
  c.reconciler.crashLoopInitial = o.crashLoopBackoff;
  c.reconciler.crashLoopMax = o.crashLoopMaxBackoff;
  c.reconciler.pullBackoffInitial = o.imagePullBackoff;
  c.reconciler.pullBackoffMax = o.imagePullMaxBackoff;
  c.reconciler.workers = o.workers;
  c.reconciler.podNetwork = o.podNetwork;
  c.reconciler.pauseBinary = o.pauseBinary;
  c.reconciler.podInfraImage = o.podInfraImage;
  c.reconciler.hostIP = o.nodeIp;
  return runAgent(c, stop);
}

}  // namespace skiff::edge_agent
