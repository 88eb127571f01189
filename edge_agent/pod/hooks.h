// Container lifecycle hooks (postStart, preStop) as the kubelet runs them: exec inside the
// container through the engine, httpGet against the pod (the same addressing as probes,
// edge_agent/prober.h), or sleep. Errors carry the kubelet's wording ("Exec lifecycle hook
// ([sh -c ...]) for Container "web" in Pod "p" failed - error: ..., message: ...").
//
// Blocking; bounded by `timeout` (exec and httpGet) and cut short when cancelled() turns true
// (sleep, polled every 100 ms). Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/prober.h"

namespace skiff::edge_agent::pod {

common::Status runHook(engine::ContainerIo& io, const common::protocol::Handler& handler,
                       const ProbeTarget& target, const std::string& pod,
                       const std::string& container, std::chrono::milliseconds timeout,
                       const std::function<bool()>& cancelled);

}  // namespace skiff::edge_agent::pod
