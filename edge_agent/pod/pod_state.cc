// Pod records and the kubelet's status rules (see pod_state.h).
#include "edge_agent/pod/pod_state.h"

#include <algorithm>

#include "common/clock.h"

namespace skiff::edge_agent::pod {

namespace protocol = common::protocol;
using protocol::ContainerKind;
using protocol::ModuleState;

namespace {

std::string rfc3339(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? common::formatRfc3339(*t) : std::string();
}

bool exitedNonZero(const protocol::ModuleStatus& s) {
  return s.state == ModuleState::kTerminated && s.exitCode.value_or(0) != 0;
}

bool lastFailed(const protocol::ModuleStatus& s) {
  return s.lastTermination && s.lastTermination->exitCode != 0;
}

}  // namespace

void setWaiting(protocol::ModuleStatus& s, std::string reason, std::string message) {
  s.state = ModuleState::kWaiting;
  s.reason = std::move(reason);
  s.message = std::move(message);
  s.exitCode.reset();
  s.ready = false;
  s.started = false;
}

void setTerminated(protocol::ModuleStatus& s, const protocol::Termination& term,
                   std::string message) {
  s.state = ModuleState::kTerminated;
  s.reason = term.reason;
  s.message = std::move(message);
  s.exitCode = term.exitCode;
  s.startedAt = term.startedAt;
  s.finishedAt = term.finishedAt;
  s.ready = false;
  s.started = false;
}

std::string notCreatedReason(const protocol::PodSpec& pod) {
  return pod.initContainers.empty() ? "ContainerCreating" : "PodInitializing";
}

protocol::Termination terminationOf(const engine::ContainerInfo& info) {
  protocol::Termination t;
  t.exitCode = info.exitCode;
  t.reason = info.oomKilled ? "OOMKilled" : (info.exitCode == 0 ? "Completed" : "Error");
  t.startedAt = rfc3339(info.startedAt);
  t.finishedAt = rfc3339(info.finishedAt);
  return t;
}

void applySpec(PodRecord& rec, const protocol::PodSpec& spec,
               const std::map<std::string, PersistedContainer>& persisted) {
  std::string hash = protocol::specHash(spec);
  std::string sandbox = sandboxHash(spec);
  if (!rec.desired || rec.hash != hash) rec.terminal = false;  // new content: start over
  if (rec.sandboxHash != sandbox) {
    rec.terminal = false;
    rec.status.phase = "Pending";
  }
  rec.spec = spec;
  rec.desired = true;
  rec.gracePeriodSeconds = spec.terminationGracePeriodSeconds;
  rec.hash = hash;
  rec.sandboxHash = sandbox;
  rec.status.name = spec.name;
  rec.status.deploymentId = spec.deploymentId;
  rec.status.specHash = hash;
  rec.status.terminating = false;
  rec.order.clear();
  std::map<std::string, ContainerRecord> next;
  auto add = [&](const protocol::ContainerSpec& c, ContainerKind kind) {
    rec.order.push_back(c.name);
    std::string chash = containerHash(spec, c);
    ContainerRecord cr;
    auto old = rec.containers.find(c.name);
    if (old != rec.containers.end() && old->second.hash == chash) {
      cr = std::move(old->second);
    } else {
      std::string module = protocol::moduleName(spec.name, c.name);
      auto p = persisted.find(module);
      if (p != persisted.end() && p->second.hash == chash) {
        cr.status.restartCount = p->second.restartCount;
        cr.status.lastTermination = p->second.lastTermination;
      }
      setWaiting(cr.status, notCreatedReason(spec), "");
    }
    cr.spec = c;
    cr.kind = kind;
    cr.hash = chash;
    cr.status.name = protocol::moduleName(spec.name, c.name);
    cr.status.kind = kind;
    cr.status.deploymentId = spec.deploymentId;
    cr.status.specHash = chash;
    cr.status.image = c.image;
    next[c.name] = std::move(cr);
  };
  for (const auto& c : spec.initContainers) {
    add(c, protocol::isSidecar(c) ? ContainerKind::kSidecar : ContainerKind::kInit);
  }
  for (const auto& c : spec.containers) add(c, ContainerKind::kContainer);
  rec.containers = std::move(next);
}

bool initDone(const PodRecord& rec) {
  bool allInit = true;
  for (const auto& [name, c] : rec.containers) {
    if (c.kind == ContainerKind::kContainer && !c.containerId.empty()) return true;
    if (c.kind == ContainerKind::kInit &&
        !(c.status.state == ModuleState::kTerminated && c.status.exitCode.value_or(1) == 0)) {
      allInit = false;
    }
  }
  return allInit;
}

void computePodConditions(PodRecord& rec) {
  if (!rec.spec || !rec.desired) return;
  const auto& spec = *rec.spec;
  int pending = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0, failedInit = 0;
  bool appStarted = false;
  bool initialized = true;
  bool ready = true;
  for (const auto& name : rec.order) {
    const ContainerRecord& c = rec.containers.at(name);
    const auto& s = c.status;
    switch (c.kind) {
      case ContainerKind::kInit:
        if (s.state == ModuleState::kRunning) {
          ++pending;
        } else if (exitedNonZero(s) || (s.state == ModuleState::kWaiting && lastFailed(s))) {
          ++failedInit;
        } else if (s.state == ModuleState::kWaiting) {
          ++pending;
        }
        if (!(s.state == ModuleState::kTerminated && s.exitCode.value_or(1) == 0)) {
          initialized = false;
        }
        break;
      case ContainerKind::kSidecar:
        if (s.state == ModuleState::kRunning) {
          ++running;
          if (!s.started) ++pending;
        } else if (s.state == ModuleState::kWaiting && !s.lastTermination) {
          ++pending;
          ++waiting;
        }
        if (!s.started) initialized = false;
        ready = ready && s.ready;
        break;
      case ContainerKind::kContainer:
        if (!c.containerId.empty()) appStarted = true;
        if (s.state == ModuleState::kRunning) {
          ++running;
        } else if (s.state == ModuleState::kTerminated) {
          ++stopped;
          if (s.exitCode.value_or(1) == 0) ++succeeded;
        } else if (s.lastTermination) {
          ++stopped;
        } else {
          ++waiting;
        }
        ready = ready && s.ready;
        break;
    }
  }
  std::string phase = "Pending";
  if (failedInit > 0 && spec.restartPolicy == protocol::RestartPolicy::kNever) {
    phase = "Failed";
  } else if ((pending > 0 && !appStarted) || waiting > 0) {
    phase = "Pending";
  } else if (running > 0) {
    phase = "Running";
  } else if (stopped > 0) {
    if (spec.restartPolicy == protocol::RestartPolicy::kAlways) {
      phase = "Running";
    } else if (stopped == succeeded) {
      phase = "Succeeded";
    } else if (spec.restartPolicy == protocol::RestartPolicy::kNever) {
      phase = "Failed";
    } else {
      phase = "Running";
    }
  }
  if (rec.terminal && (rec.status.phase == "Succeeded" || rec.status.phase == "Failed")) {
    phase = rec.status.phase;  // terminal phases stay
  }
  rec.status.phase = phase;
  rec.status.initialized = initialized || appStarted || phase == "Succeeded";
  rec.status.ready = ready && phase == "Running" && rec.status.initialized;
}

}  // namespace skiff::edge_agent::pod
