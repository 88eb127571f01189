// The running agent (`skiff-agent run`): wires the identity, the container engine, the desired
// state gate, the reconciler, MQTT and RPC together, and owns the reporting loop.
//
//   boot: identity → persisted desired state (verified) → reconciler starts (no broker needed)
//   MQTT: subscribe desired + rpc/request; on connect publish presence online (retained) and a
//         full report; Last Will = presence offline (retained)
//   loop: reported on every status change (at once for up to 10 reports in a row, beyond that
//         coalesced to one per reportDebounce: a token bucket) and every heartbeat;
//         metrics (collected every metricsInterval on their own thread: engine stats calls are
//         slow); certificate renewal check every renewCheckInterval
//   stop: presence offline, RPC streams ended, MQTT disconnected, workers joined — containers
//         keep running (the agent stopping must never stop the workloads).
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "edge_agent/reconciler.h"

namespace skiff::edge_agent {

struct AgentConfig {
  std::string stateDir;
  std::string engineSocket;
  std::string mqttUrl;  // overrides the enrolled URL when set
  std::string agentVersion;
  std::chrono::milliseconds heartbeatInterval{common::protocol::kDefaultHeartbeatInterval};
  std::chrono::milliseconds metricsInterval{common::protocol::kDefaultMetricsInterval};
  std::chrono::milliseconds renewCheckInterval{3600000};
  std::chrono::milliseconds reportDebounce{100};
  ReconcilerOptions reconciler;  // agentId/stateDir are filled from the identity
};

// Runs until stop is requested. Errors only for what prevents running at all (not enrolled,
// unreadable identity, bad MQTT settings); a missing broker or engine is waited out.
common::Status runAgent(const AgentConfig& config, std::stop_token stop);

}  // namespace skiff::edge_agent
