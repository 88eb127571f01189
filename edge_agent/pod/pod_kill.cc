// Killing a pod's containers the kubelet's way, terminating a pod that is no longer desired,
// stopping sidecars of a finished pod, restarts on request (see pod_sync.h).
#include <future>
#include <thread>

#include "common/log.h"
#include "edge_agent/pod/hooks.h"
#include "edge_agent/pod/pod_sync_internal.h"

namespace skiff::edge_agent::pod {

namespace protocol = common::protocol;
using common::Status;
using protocol::ContainerKind;

namespace {

int labelGrace(const engine::ContainerInfo& c) {
  try {
    return std::clamp(std::stoi(label(c, kLabelStopTimeout)), 0, 3600);
  } catch (...) {
    return 30;
  }
}

}  // namespace

void PodSync::stopSidecars(Ctx& ctx) {
  auto deadline = Clock::now() + std::chrono::seconds(ctx.rec.gracePeriodSeconds);
  for (auto it = ctx.rec.order.rbegin(); it != ctx.rec.order.rend(); ++it) {
    const ContainerRecord& cr = ctx.rec.containers.at(*it);
    if (cr.kind != ContainerKind::kSidecar) continue;
    auto cur = ctx.current.find(*it);
    if (cur == ctx.current.end()) continue;
    prober_.untrack(cr.status.name);
    auto info = engine_.inspect(cur->second.id);
    if (!info.isOk() || !isRunning(*info)) continue;
    common::log::info("stopping sidecar: the pod's containers are done",
                      {{"pod", ctx.pod}, {"container", *it}});
    (void)kill(&ctx, *info, deadline);
    auto after = engine_.inspect(cur->second.id);
    setStatus(ctx.pod, *it, [&](ContainerRecord& c) {
      if (!after.isOk()) return;
      setTerminated(c.status, terminationOf(*after), "");
    });
  }
  records_.touched(ctx.pod);
}

// ---- Killing ----------------------------------------------------------------------------------

Status PodSync::kill(const Ctx* ctx, const engine::ContainerInfo& c, Clock::time_point deadline) {
  if (!isRunning(c)) return Status::ok();
  bool hookRan = false;
  if (ctx != nullptr && ctx->rec.spec) {
    std::string module = label(c, kLabelModule);
    std::string name = module.substr(module.find('/') + 1);
    auto it = ctx->rec.containers.find(name);
    // Only the spec the container was created from: a replaced container keeps its own hooks.
    if (it != ctx->rec.containers.end() && it->second.spec.lifecycle.preStop &&
        label(c, kLabelSpecHash) == it->second.hash && Clock::now() < deadline && !cancelled_) {
      hookRan = true;
      Status s = runHook(io_, *it->second.spec.lifecycle.preStop, ctx->target(c.id), ctx->pod, name,
                         remaining(deadline), [this, deadline] {
                           return cancelled_.load() || Clock::now() >= deadline;
                         });
      if (!s.isOk()) {
        common::log::warn("preStop hook failed", {{"module", module}, {"error", s.message()}});
      }
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
  if (hookRan && left < std::chrono::seconds(2)) left = std::chrono::seconds(2);
  if (left.count() < 0) left = std::chrono::seconds(0);
  Status s = engine_.stop(c.id, left);
  if (!s.isOk() && s.code() != common::StatusCode::kNotFound) return s;
  return Status::ok();
}

Status PodSync::killAndRemove(const Ctx* ctx, std::vector<engine::ContainerInfo> containers,
                              int gracePeriodSeconds) {
  auto deadline = Clock::now() + std::chrono::seconds(gracePeriodSeconds);
  std::vector<engine::ContainerInfo> apps, sidecars, rest, infra;
  for (auto& c : containers) {
    std::string kind = label(c, kLabelKind);
    if (kind == "container" || kind.empty()) {
      apps.push_back(std::move(c));
    } else if (kind == "sidecar") {
      sidecars.push_back(std::move(c));
    } else if (kind == kKindInfra) {
      infra.push_back(std::move(c));
    } else {
      rest.push_back(std::move(c));
    }
  }
  // App containers together (each its own preStop + grace), as the kubelet kills a pod.
  std::vector<std::future<Status>> kills;
  for (const auto& c : apps) {
    kills.push_back(std::async(std::launch::async,
                               [this, ctx, c, deadline] { return kill(ctx, c, deadline); }));
  }
  Status first;
  for (auto& k : kills) {
    Status s = k.get();
    if (first.isOk() && !s.isOk()) first = s;
  }
  // Sidecars after every app container, in reverse order of the spec.
  if (ctx != nullptr) {
    auto pos = [&](const engine::ContainerInfo& c) {
      std::string m = label(c, kLabelModule);
      auto it = std::find(ctx->rec.order.begin(), ctx->rec.order.end(), m.substr(m.find('/') + 1));
      return it - ctx->rec.order.begin();
    };
    std::sort(sidecars.begin(), sidecars.end(),
              [&](const auto& a, const auto& b) { return pos(a) > pos(b); });
  }
  for (const auto& c : sidecars) {
    Status s = kill(ctx, c, deadline);
    if (first.isOk() && !s.isOk()) first = s;
  }
  for (const auto& c : rest) {
    Status s = kill(ctx, c, deadline);
    if (first.isOk() && !s.isOk()) first = s;
  }
  for (const auto* list : {&apps, &sidecars, &rest}) {
    for (const auto& c : *list) {
      Status s = engine_.remove(c.id);
      if (first.isOk() && !s.isOk()) first = s;
    }
  }
  // The sandbox last: engines refuse to remove a container others still join.
  for (const auto& c : infra) {
    Status s = engine_.stop(c.id, std::chrono::seconds(2));
    if (s.isOk() || s.code() == common::StatusCode::kNotFound) s = engine_.remove(c.id);
    if (first.isOk() && !s.isOk()) first = s;
  }
  return first;
}

PodSync::Outcome PodSync::terminate(const std::string& pod,
                                    const std::vector<engine::ContainerInfo>& listed,
                                    const std::optional<PodRecord>& rec) {
  prober_.untrackPrefix(pod + "/");
  if (!listed.empty()) {
    // Without a record (a pod removed while the agent was down) the labels tell the grace.
    int grace = 0;
    for (const auto& c : listed) grace = std::max(grace, labelGrace(c));
    if (rec) grace = rec->gracePeriodSeconds;
    common::log::info("terminating pod", {{"pod", pod},
                                          {"containers", static_cast<int>(listed.size())},
                                          {"gracePeriodSeconds", grace}});
    std::optional<Ctx> ctx;
    if (rec) {
      ctx.emplace();
      ctx->pod = pod;
      ctx->rec = *rec;
      // The last spec's hooks still apply (preStop) while the pod goes.
      ctx->podIP = rec->status.podIP;
    }
    Status s = killAndRemove(ctx && ctx->rec.spec ? &*ctx : nullptr, listed, grace);
    records_.touched(pod);
    if (!s.isOk()) return {s, std::nullopt};
  }
  if (Status s = removePodVolumes(pod, opts_.agentId, opts_.stateDir, resources_); !s.isOk()) {
    return {s, std::nullopt};
  }
  records_.erase(pod);
  return {};
}

Status PodSync::restart(const std::string& pod, const std::string& container,
                        const std::vector<engine::ContainerInfo>& listed) {
  auto rec = records_.get(pod);
  if (!rec || !rec->desired || !rec->containers.contains(container)) {
    return common::notFound("module \"" + protocol::moduleName(pod, container) +
                            "\" is not desired on this device");
  }
  const ContainerRecord& cr = rec->containers.at(container);
  const engine::ContainerInfo* cur = nullptr;
  for (const auto& c : listed) {
    if (c.id == cr.containerId) cur = &c;
  }
  if (cur == nullptr) {
    return common::notFound("module \"" + cr.status.name + "\" has no container yet");
  }
  Ctx ctx;
  ctx.pod = pod;
  ctx.rec = *rec;
  ctx.podIP = rec->status.podIP;
  ctx.infraId = rec->infraId;
  prober_.untrack(cr.status.name);
  SKIFF_RETURN_IF_ERROR(
      kill(&ctx, *cur, Clock::now() + std::chrono::seconds(rec->gracePeriodSeconds)));
  auto after = engine_.inspect(cur->id);
  Status started = engine_.start(cur->id);
  records_.touched(pod);
  SKIFF_RETURN_IF_ERROR(started);
  setStatus(pod, container, [&](ContainerRecord& c) {
    ++c.status.restartCount;
    c.postStartDone = !c.spec.lifecycle.postStart;
    if (after.isOk()) {
      c.status.lastTermination = terminationOf(*after);
      c.handledFinishedAt = after->finishedAt.value_or(std::chrono::system_clock::time_point{});
    }
  });
  records_.persist();
  ctx.current[container] = *cur;
  (void)afterStart(ctx, container, cur->id);
  common::log::info("restarted module on request",
                    {{"module", cr.status.name}, {"container", cur->id}});
  return Status::ok();
}

}  // namespace skiff::edge_agent::pod
