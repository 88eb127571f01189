// What the parts of a pod pass share (edge_agent/pod/pod_sync.cc: the pass, the sandbox and the
// containers; edge_agent/pod/pod_kill.cc: killing, termination, restarts). Internal to PodSync.
#pragma once

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <string>

#include "common/clock.h"
#include "edge_agent/pod/pod_sync.h"

namespace skiff::edge_agent::pod {

inline std::string label(const engine::ContainerInfo& c, std::string_view key) {
  auto it = c.labels.find(std::string(key));
  return it == c.labels.end() ? std::string() : it->second;
}

inline bool isRunning(const engine::ContainerInfo& c) {
  return c.status == engine::ContainerStatus::kRunning ||
         c.status == engine::ContainerStatus::kPaused ||
         c.status == engine::ContainerStatus::kRestarting;
}

inline std::string rfc3339(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? common::formatRfc3339(*t) : std::string();
}

inline std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point until) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(until -
                                                                 std::chrono::steady_clock::now());
  return std::max(d, std::chrono::milliseconds(1));
}

struct PodSync::Ctx {
  std::string pod;
  PodRecord rec;
  std::string infraId;
  std::string podIP;
  std::map<std::string, engine::ContainerInfo> current;  // container name → its container
  std::optional<std::chrono::milliseconds> requeue;
  // A sandbox created in this pass, starting (PodSync::createSandbox); awaitSandbox() takes it.
  std::future<common::Result<engine::ContainerInfo>> sandboxStart;

  const common::protocol::PodSpec& spec() const { return *rec.spec; }
  ProbeTarget target(const std::string& containerId) const {
    ProbeTarget t;
    t.containerId = containerId;
    t.containerIp = spec().hostNetwork ? "" : podIP;
    for (const auto* list : {&spec().initContainers, &spec().containers}) {
      for (const auto& c : *list) t.ports.insert(t.ports.end(), c.ports.begin(), c.ports.end());
    }
    return t;
  }
  void wakeIn(std::chrono::milliseconds d) { requeue = requeue ? std::min(*requeue, d) : d; }
};

}  // namespace skiff::edge_agent::pod
