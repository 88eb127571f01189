// One sync pass of a pod (see pod_sync.h).
#include "edge_agent/pod/pod_sync.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "edge_agent/pod/hooks.h"
#include "edge_agent/pod/pod_sync_internal.h"

namespace skiff::edge_agent::pod {

namespace fs = std::filesystem;
namespace protocol = common::protocol;
using common::Result;
using common::Status;
using protocol::ContainerKind;
using protocol::ModuleState;
using std::chrono::milliseconds;

namespace {

std::string seconds(milliseconds d) {
  return common::formatDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

// Bytes used under a directory (regular files), stopping early past `limit`.
std::int64_t usage(const std::string& dir, std::int64_t limit) {
  std::int64_t total = 0;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      total += static_cast<std::int64_t>(it->file_size(ec));
      if (total > limit) return total;
    }
  }
  return total;
}

// Kubernetes' quantity text for a byte count ("1Gi", "512Mi", "1500").
std::string bytesQuantity(std::int64_t b) {
  constexpr std::pair<const char*, std::int64_t> kUnits[] = {
      {"Ti", std::int64_t{1} << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}};
  for (auto [suffix, unit] : kUnits) {
    if (b >= unit && b % unit == 0) return std::to_string(b / unit) + suffix;
  }
  return std::to_string(b);
}

}  // namespace

PodSync::PodSync(SyncOptions opts, engine::ContainerEngine& engine, engine::ContainerIo& io,
                 engine::EngineResources& resources, Prober& prober, PauseImage& pause,
                 PodRecords& records)
    : opts_(std::move(opts)),
      engine_(engine),
      io_(io),
      resources_(resources),
      prober_(prober),
      pause_(pause),
      records_(records) {}

void PodSync::setStatus(const std::string& pod, const std::string& name,
                        const std::function<void(ContainerRecord&)>& fn) {
  records_.update(pod, [&](PodRecord& r) {
    auto it = r.containers.find(name);
    if (it != r.containers.end()) fn(it->second);
  });
}

// ---- The pass ---------------------------------------------------------------------------------

PodSync::Outcome PodSync::sync(const std::string& pod,
                               const std::vector<engine::ContainerInfo>& listed) {
  auto rec = records_.get(pod);
  if (!rec || !rec->desired) return terminate(pod, listed, rec);
  Ctx ctx;
  ctx.pod = pod;
  ctx.rec = std::move(*rec);
  auto sandbox = ensureSandbox(ctx, listed);
  if (!sandbox.isOk()) return {sandbox.status(), std::nullopt};
  if (!*sandbox) return {};  // terminal: nothing runs any more
  std::vector<engine::ContainerInfo> members;
  for (const auto& c : listed) {
    if (label(c, kLabelKind) != kKindInfra && label(c, kLabelSandboxId) == ctx.infraId) {
      members.push_back(c);
    }
  }
  if (auto s = prepareVolumes(ctx); !s.isOk()) return {s, std::nullopt};
  if (evictIfOverLimit(ctx, members)) return {};
  classifyMembers(ctx, members);
  if (ctx.rec.terminal) return {};
  bool blocked = false;
  Outcome init = syncInit(ctx, blocked);
  if (!init.status.isOk()) return init;
  if (!blocked) {
    Outcome apps = syncApps(ctx);
    if (!apps.status.isOk()) return apps;
  }
  // A sandbox no container was started in yet (image back-off, say) is still recorded now.
  if (Status s = awaitSandbox(ctx); !s.isOk()) return {s, std::nullopt};
  return {Status::ok(), ctx.requeue};
}

Result<bool> PodSync::ensureSandbox(Ctx& ctx, const std::vector<engine::ContainerInfo>& listed) {
  const engine::ContainerInfo* good = nullptr;
  for (const auto& c : listed) {
    if (label(c, kLabelKind) == kKindInfra && label(c, kLabelSpecHash) == ctx.rec.sandboxHash &&
        c.status == engine::ContainerStatus::kRunning) {
      good = &c;
      break;
    }
  }
  if (good != nullptr) {
    ctx.infraId = good->id;
    std::vector<engine::ContainerInfo> strays;  // other infra containers, their members
    for (const auto& c : listed) {
      if (c.id == good->id) continue;
      bool otherSandbox = label(c, kLabelKind) == kKindInfra ||
                          label(c, kLabelSandboxId) != good->id || label(c, kLabelKind).empty();
      if (otherSandbox) strays.push_back(c);
    }
    if (!strays.empty())
      SKIFF_RETURN_IF_ERROR(killAndRemove(&ctx, strays, ctx.rec.gracePeriodSeconds));
    if (ctx.rec.infraId == good->id && !ctx.rec.status.podIP.empty()) {
      ctx.podIP = ctx.rec.status.podIP;
      return true;
    }
    SKIFF_ASSIGN_OR_RETURN(engine::ContainerInfo info, engine_.inspect(good->id));
    ctx.podIP = ctx.spec().hostNetwork ? opts_.hostIP : info.ipAddress;
    records_.update(ctx.pod, [&](PodRecord& r) {
      r.infraId = good->id;
      r.status.podIP = ctx.podIP;
      r.status.hostIP = opts_.hostIP;
      r.status.startedAt = rfc3339(info.startedAt);
    });
    ctx.rec.infraId = good->id;
    return true;
  }
  // No running sandbox of this spec: whatever is left of an earlier one goes first.
  bool hadSandbox = !listed.empty();
  bool hadRecordedSandbox = !ctx.rec.infraId.empty();
  bool ranBefore =
      std::any_of(ctx.rec.containers.begin(), ctx.rec.containers.end(), [](const auto& kv) {
        return kv.second.kind == ContainerKind::kContainer &&
               (!kv.second.containerId.empty() || kv.second.status.lastTermination.has_value());
      });
  if (hadSandbox) {
    common::log::info("pod sandbox changed, it will be killed and re-created",
                      {{"pod", ctx.pod}, {"containers", static_cast<int>(listed.size())}});
    prober_.untrackPrefix(ctx.pod + "/");
    std::map<std::string, protocol::Termination> ended;
    for (const auto& c : listed) {
      std::string module = label(c, kLabelModule);
      if (module.empty() || label(c, kLabelKind) != "container" || !isRunning(c)) continue;
      ended[module] = {};
    }
    SKIFF_RETURN_IF_ERROR(killAndRemove(&ctx, listed, ctx.rec.gracePeriodSeconds));
    records_.update(ctx.pod, [&](PodRecord& r) {
      r.infraId.clear();
      r.status.podIP.clear();
      if (!ctx.rec.infraId.empty()) {
        r.status.reason = "SandboxChanged";
        r.status.message = "Pod sandbox changed, it will be killed and re-created.";
      }
      for (auto& [name, c] : r.containers) {
        bool wasRunning = ended.contains(c.status.name);
        c.containerId.clear();
        c.status.containerId.clear();
        c.postStartDone = false;
        if (wasRunning) ++c.status.restartCount;
        if (c.kind != ContainerKind::kContainer) c.status.lastTermination.reset();
        setWaiting(c.status, notCreatedReason(*r.spec), "");
      }
    });
    records_.persist();
    records_.touched(ctx.pod);
    if (auto r = records_.get(ctx.pod)) ctx.rec = std::move(*r);
  }
  if (ctx.rec.terminal) return false;
  if (hadSandbox && hadRecordedSandbox && ranBefore &&
      ctx.spec().restartPolicy == protocol::RestartPolicy::kNever) {
    // As the kubelet: a Never pod whose sandbox died is not started again.
    records_.update(ctx.pod, [](PodRecord& r) {
      r.terminal = true;
      r.status.phase = "Failed";
    });
    return false;
  }
  SKIFF_RETURN_IF_ERROR(createSandbox(ctx));
  return true;
}

Status PodSync::createSandbox(Ctx& ctx) {
  if (auto s = prepareVolumes(ctx); !s.isOk()) return sandboxFailed(ctx, s);
  auto image = pause_.ensure();
  if (!image.isOk()) return sandboxFailed(ctx, image.status());
  engine::ContainerConfig cfg =
      infraConfig(ctx.spec(), ctx.rec.sandboxHash, opts_.agentId, opts_.podNetwork, *image);
  auto id = engine_.create(cfg);
  if (!id.isOk() && id.status().code() == common::StatusCode::kNotFound) {
    // The image is gone (pruned): import it again.
    pause_.forget();
    image = pause_.ensure();
    if (!image.isOk()) return sandboxFailed(ctx, image.status());
    cfg = infraConfig(ctx.spec(), ctx.rec.sandboxHash, opts_.agentId, opts_.podNetwork, *image);
    id = engine_.create(cfg);
  }
  if (!id.isOk()) return sandboxFailed(ctx, id.status());
  // The infra container starts (network set up by the engine) while the pass goes on creating
  // the pod's containers, which only need its id; the first container start waits for it
  // (awaitSandbox).
  ctx.infraId = *id;
  ctx.sandboxStart =
      std::async(std::launch::async, [this, id = *id]() -> Result<engine::ContainerInfo> {
        SKIFF_RETURN_IF_ERROR(engine_.start(id));
        return engine_.inspect(id);
      });
  return Status::ok();
}

Status PodSync::sandboxFailed(Ctx& ctx, const Status& s) {
  records_.update(ctx.pod, [&](PodRecord& r) {
    r.status.reason = "FailedCreatePodSandBox";
    r.status.message = "Failed to create pod sandbox: " + s.message();
  });
  return s;
}

Status PodSync::awaitSandbox(Ctx& ctx) {
  if (!ctx.sandboxStart.valid()) return Status::ok();
  auto info = ctx.sandboxStart.get();
  records_.touched(ctx.pod);
  if (!info.isOk()) {
    (void)engine_.remove(ctx.infraId);  // its containers go with the next pass's sandbox
    return sandboxFailed(ctx, info.status());
  }
  ctx.podIP = ctx.spec().hostNetwork ? opts_.hostIP : info->ipAddress;
  common::log::info("created pod sandbox",
                    {{"pod", ctx.pod}, {"infra", ctx.infraId}, {"podIP", ctx.podIP}});
  records_.update(ctx.pod, [&](PodRecord& r) {
    r.infraId = ctx.infraId;
    r.status.podIP = ctx.podIP;
    r.status.hostIP = opts_.hostIP;
    r.status.startedAt = rfc3339(info->startedAt);
    if (r.status.reason == "FailedCreatePodSandBox") {
      r.status.reason.clear();
      r.status.message.clear();
    }
  });
  ctx.rec.infraId = ctx.infraId;
  return Status::ok();
}

Status PodSync::startMember(Ctx& ctx, const std::string& name, const std::string& id) {
  SKIFF_RETURN_IF_ERROR(awaitSandbox(ctx));
  Status s = engine_.start(id);
  records_.touched(ctx.pod);
  if (!s.isOk()) {
    setStatus(ctx.pod, name,
              [&](ContainerRecord& c) { setWaiting(c.status, "RunContainerError", s.message()); });
  }
  return s;
}

Status PodSync::prepareVolumes(Ctx& ctx) {
  auto v = preparePodVolumes(ctx.spec(), opts_.agentId, opts_.stateDir, resources_);
  if (!v.isOk()) return v.status().withContext("pod " + ctx.pod + " volumes");
  records_.update(ctx.pod, [&](PodRecord& r) { r.volumes = *v; });
  ctx.rec.volumes = std::move(*v);
  return Status::ok();
}

bool PodSync::evictIfOverLimit(Ctx& ctx, const std::vector<engine::ContainerInfo>& members) {
  if (ctx.rec.terminal) return false;
  for (const auto& [volume, limit] : ctx.rec.volumes.limits) {
    std::int64_t used = usage(limit.path, limit.bytes);
    if (used <= limit.bytes) continue;
    // The kubelet's eviction message, trailing space included.
    std::string message = "Usage of EmptyDir volume \"" + volume + "\" exceeds the limit \"" +
                          bytesQuantity(limit.bytes) + "\". ";
    common::log::warn("evicting pod", {{"pod", ctx.pod}, {"reason", message}});
    prober_.untrackPrefix(ctx.pod + "/");
    std::vector<engine::ContainerInfo> running;
    for (const auto& m : members) {
      if (isRunning(m)) running.push_back(m);
    }
    auto deadline = Clock::now() + std::chrono::seconds(ctx.rec.gracePeriodSeconds);
    for (const auto& m : running) (void)kill(&ctx, m, deadline);
    records_.update(ctx.pod, [&](PodRecord& r) {
      r.terminal = true;
      r.status.phase = "Failed";
      r.status.reason = "Evicted";
      r.status.message = message;
      r.status.ready = false;
      for (auto& [n, c] : r.containers) {
        if (c.status.state == ModuleState::kRunning) {
          c.status.state = ModuleState::kTerminated;
          c.status.reason = "Error";
          c.status.exitCode = 137;
          c.status.ready = false;
        }
      }
    });
    records_.touched(ctx.pod);
    return true;
  }
  return false;
}

void PodSync::classifyMembers(Ctx& ctx, const std::vector<engine::ContainerInfo>& members) {
  std::vector<engine::ContainerInfo> stale;
  const std::string prefix = ctx.pod + "/";
  for (const auto& m : members) {
    std::string module = label(m, kLabelModule);
    std::string name = module.starts_with(prefix) ? module.substr(prefix.size()) : "";
    auto it = ctx.rec.containers.find(name);
    if (it == ctx.rec.containers.end() || label(m, kLabelSpecHash) != it->second.hash ||
        ctx.current.contains(name)) {
      stale.push_back(m);
      continue;
    }
    ctx.current[name] = m;
  }
  records_.update(ctx.pod, [&](PodRecord& r) {
    for (const auto& [name, m] : ctx.current) {
      auto& c = r.containers.at(name);
      if (c.containerId != m.id) c.postStartDone = true;  // adopted: its hook ran before
      c.containerId = m.id;
      c.status.containerId = m.id;
    }
  });
  if (auto r = records_.get(ctx.pod)) ctx.rec = std::move(*r);
  if (stale.empty()) return;
  for (const auto& m : stale) {
    common::log::info("replacing container of a changed pod spec",
                      {{"pod", ctx.pod}, {"module", label(m, kLabelModule)}, {"container", m.id}});
    prober_.untrack(label(m, kLabelModule));
  }
  if (Status s = killAndRemove(&ctx, stale, ctx.rec.gracePeriodSeconds); !s.isOk()) {
    common::log::warn("cannot remove outdated containers",
                      {{"pod", ctx.pod}, {"error", s.toString()}});
  }
  records_.touched(ctx.pod);
}

PodSync::Outcome PodSync::syncInit(Ctx& ctx, bool& blocked) {
  bool initialized = initDone(ctx.rec);
  const std::vector<std::string> order = ctx.rec.order;  // ctx.rec is refreshed below
  for (const auto& name : order) {
    const ContainerRecord cr = ctx.rec.containers.at(name);
    if (cr.kind == ContainerKind::kContainer) continue;
    if (cr.kind == ContainerKind::kSidecar) {
      Outcome o = ensureRunning(ctx, name, true, true);
      if (!o.status.isOk()) return o;
      auto fresh = records_.get(ctx.pod);
      bool started = fresh && fresh->containers.contains(name) &&
                     fresh->containers.at(name).status.state == ModuleState::kRunning &&
                     fresh->containers.at(name).postStartDone &&
                     prober_.state(cr.status.name).started;
      if (!started && !initialized) {
        blocked = true;
        return {};
      }
      continue;
    }
    if (initialized) continue;
    auto cur = ctx.current.find(name);
    if (cur == ctx.current.end()) {
      blocked = true;
      return createAndStart(ctx, name);
    }
    auto info = engine_.inspect(cur->second.id);
    if (!info.isOk()) {
      if (info.status().code() == common::StatusCode::kNotFound)
        return {Status::ok(), milliseconds(1)};
      return {info.status(), std::nullopt};
    }
    bool exited = info->status == engine::ContainerStatus::kExited ||
                  info->status == engine::ContainerStatus::kDead;
    if (exited && info->exitCode == 0 && !info->oomKilled) {
      protocol::Termination term = terminationOf(*info);
      setStatus(ctx.pod, name, [&](ContainerRecord& c) {
        c.containerId = info->id;
        c.status.containerId = info->id;
        if (!info->imageId.empty()) c.status.imageId = info->imageId;
        setTerminated(c.status, term, "");
        c.status.ready = true;  // the kubelet: a completed init container is ready
      });
      if (auto r = records_.get(ctx.pod)) ctx.rec = std::move(*r);
      continue;
    }
    blocked = true;
    if (exited && ctx.spec().restartPolicy == protocol::RestartPolicy::kNever) {
      protocol::Termination term = terminationOf(*info);
      setStatus(ctx.pod, name, [&](ContainerRecord& c) {
        c.containerId = info->id;
        c.status.containerId = info->id;
        setTerminated(c.status, term, info->error);
      });
      records_.update(ctx.pod, [](PodRecord& r) { r.terminal = true; });
      stopSidecars(ctx);
      return {};
    }
    // Running: wait for it; failed: restarted with back-off (Always / OnFailure).
    return ensureRunning(ctx, name, false, true);
  }
  return {};
}

PodSync::Outcome PodSync::syncApps(Ctx& ctx) {
  const auto policy = ctx.spec().restartPolicy;
  bool onSuccess = policy == protocol::RestartPolicy::kAlways;
  bool onFailure = policy != protocol::RestartPolicy::kNever;
  const std::vector<std::string> order = ctx.rec.order;
  // The app containers that do not exist yet are created together (the engine copies their
  // root file systems in parallel, and the sandbox may still be starting), then started in
  // order.
  std::vector<std::string> missing;
  for (const auto& name : order) {
    if (ctx.rec.containers.at(name).kind == ContainerKind::kContainer &&
        !ctx.current.contains(name)) {
      missing.push_back(name);
    }
  }
  Status createError;
  std::set<std::string> notCreated;  // reported already; retried by a later pass
  if (missing.size() > 1 || (!missing.empty() && ctx.sandboxStart.valid())) {
    createError = precreate(ctx, missing, notCreated);
  }
  for (const auto& name : order) {
    if (ctx.rec.containers.at(name).kind != ContainerKind::kContainer) continue;
    if (notCreated.contains(name)) continue;
    Outcome o = ensureRunning(ctx, name, onSuccess, onFailure);
    if (!o.status.isOk()) return o;
  }
  if (!createError.isOk()) return {createError, std::nullopt};
  if (policy == protocol::RestartPolicy::kAlways) return {};
  // Never / OnFailure: once every app container is done for good, the sidecars stop too.
  auto rec = records_.get(ctx.pod);
  if (!rec) return {};
  bool done = true;
  for (const auto& [name, c] : rec->containers) {
    if (c.kind != ContainerKind::kContainer) continue;
    bool finished =
        c.status.state == ModuleState::kTerminated &&
        (policy == protocol::RestartPolicy::kNever || c.status.exitCode.value_or(1) == 0);
    done = done && finished;
  }
  if (!done) return {};
  ctx.rec = std::move(*rec);
  stopSidecars(ctx);
  records_.update(ctx.pod, [](PodRecord& r) {
    r.terminal = true;
    computePodConditions(r);
  });
  return {};
}

// ---- One container ----------------------------------------------------------------------------

void PodSync::track(Ctx& ctx, const std::string& name, const std::string& id) {
  const ContainerRecord cr = ctx.rec.containers.at(name);
  if (prober_.tracking(cr.status.name, id)) return;
  Prober::Probes probes;
  if (cr.kind != ContainerKind::kInit) {
    probes.startup = cr.spec.startupProbe;
    probes.liveness = cr.spec.livenessProbe;
    probes.readiness = cr.spec.readinessProbe;
  }
  prober_.track(cr.status.name, ctx.target(id), probes);
}

PodSync::Outcome PodSync::ensureRunning(Ctx& ctx, const std::string& name, bool restartOnSuccess,
                                        bool restartOnFailure) {
  auto cur = ctx.current.find(name);
  if (cur == ctx.current.end()) return createAndStart(ctx, name);
  const std::string id = cur->second.id;
  const ContainerRecord cr = ctx.rec.containers.at(name);
  const std::string& module = cr.status.name;
  auto info = engine_.inspect(id);
  if (!info.isOk()) {
    if (info.status().code() == common::StatusCode::kNotFound) {
      ctx.current.erase(cur);
      return {Status::ok(), milliseconds(1)};
    }
    return {info.status(), std::nullopt};
  }
  setStatus(ctx.pod, name, [&](ContainerRecord& c) {
    if (c.containerId != id) c.postStartDone = !c.spec.lifecycle.postStart;
    c.containerId = id;
    c.status.containerId = id;
    if (!info->imageId.empty()) c.status.imageId = info->imageId;
  });
  const auto now = Clock::now();
  switch (info->status) {
    case engine::ContainerStatus::kCreated: {
      if (Status s = startMember(ctx, name, id); !s.isOk()) return {s, std::nullopt};
      return afterStart(ctx, name, id);
    }
    case engine::ContainerStatus::kRunning: {
      track(ctx, name, id);
      Prober::State ps = prober_.state(module);
      if (ps.livenessFailed || ps.startupFailed) {
        std::string why = ps.message;
        common::log::warn("probe failed; restarting container",
                          {{"module", module}, {"container", id}, {"reason", why}});
        prober_.untrack(module);
        auto deadline = now + std::chrono::seconds(ctx.rec.gracePeriodSeconds);
        if (Status k = kill(&ctx, *info, deadline); !k.isOk()) return {k, std::nullopt};
        auto after = engine_.inspect(id);
        if (!restartOnFailure) {
          records_.touched(ctx.pod);
          return {Status::ok(), milliseconds(1)};  // seen as terminated next
        }
        if (Status s = startMember(ctx, name, id); !s.isOk()) return {s, std::nullopt};
        setStatus(ctx.pod, name, [&](ContainerRecord& c) {
          ++c.status.restartCount;
          if (after.isOk()) {
            c.status.lastTermination = terminationOf(*after);
            c.handledFinishedAt =
                after->finishedAt.value_or(std::chrono::system_clock::time_point{});
          }
          c.status.message = why;
          c.postStartDone = !c.spec.lifecycle.postStart;
        });
        records_.persist();
        return afterStart(ctx, name, id);
      }
      setStatus(ctx.pod, name, [&](ContainerRecord& c) {
        c.status.state = ModuleState::kRunning;
        c.status.reason.clear();
        c.status.message.clear();
        c.status.exitCode.reset();
        c.status.startedAt = rfc3339(info->startedAt);
        c.status.finishedAt.clear();
      });
      if (!cr.postStartDone && cr.containerId == id) {
        // A postStart that did not finish (agent restart mid-hook): the kubelet does not rerun
        // it either; the container counts as started.
        setStatus(ctx.pod, name, [](ContainerRecord& c) { c.postStartDone = true; });
      }
      return {};
    }
    case engine::ContainerStatus::kExited:
    case engine::ContainerStatus::kDead:
      return afterExit(ctx, name, id, *info, restartOnSuccess, restartOnFailure);
    case engine::ContainerStatus::kPaused:
    case engine::ContainerStatus::kRestarting:
    case engine::ContainerStatus::kUnknown:
      setStatus(ctx.pod, name, [&](ContainerRecord& c) {
        setWaiting(c.status, "ContainerCreating",
                   "container is " + std::string(engine::toString(info->status)));
      });
      ctx.wakeIn(opts_.recheckInterval);
      return {};
  }
  return {};
}

// An exited container: terminated for good, or restarted at once or after its crash back-off.
PodSync::Outcome PodSync::afterExit(Ctx& ctx, const std::string& name, const std::string& id,
                                    const engine::ContainerInfo& exited, bool restartOnSuccess,
                                    bool restartOnFailure) {
  const std::string module = ctx.rec.containers.at(name).status.name;
  const auto now = Clock::now();
  prober_.untrack(module);
  protocol::Termination term = terminationOf(exited);
  bool failed = term.exitCode != 0 || exited.oomKilled;
  bool restart = failed ? restartOnFailure : restartOnSuccess;
  if (!restart) {
    setStatus(ctx.pod, name,
              [&](ContainerRecord& c) { setTerminated(c.status, term, exited.error); });
    return {};
  }
  std::optional<milliseconds> wait;
  setStatus(ctx.pod, name, [&](ContainerRecord& c) {
    auto finished = exited.finishedAt.value_or(std::chrono::system_clock::time_point{});
    if (!c.handledFinishedAt || *c.handledFinishedAt != finished) {
      // A new exit: like the kubelet, restart at once the first time, then wait 10 s, 20 s,
      // … 5 min; a container that ran for crashLoopReset starts over.
      c.handledFinishedAt = finished;
      if (exited.startedAt && exited.finishedAt &&
          *exited.finishedAt - *exited.startedAt >= opts_.crashLoopReset) {
        c.crashBackoff = milliseconds(0);
      }
      c.restartNotBefore = now + c.crashBackoff;
      c.appliedBackoff = c.crashBackoff;
      c.crashBackoff = c.crashBackoff.count() == 0
                           ? opts_.crashLoopInitial
                           : std::min(c.crashBackoff * 2, opts_.crashLoopMax);
    }
    if (c.restartNotBefore && now < *c.restartNotBefore) {
      wait = remaining(*c.restartNotBefore);
      if (c.status.reason != "PostStartHookError" || c.status.state != ModuleState::kWaiting) {
        setWaiting(c.status, "CrashLoopBackOff",
                   "back-off " + seconds(c.appliedBackoff) +
                       " restarting failed container=" + c.spec.name + " pod=" + ctx.pod);
      }
      c.status.lastTermination = term;
      c.status.startedAt.clear();
    }
  });
  if (wait) {
    ctx.wakeIn(*wait);
    return {};
  }
  if (Status s = startMember(ctx, name, id); !s.isOk()) return {s, std::nullopt};
  common::log::info("restarted exited container",
                    {{"module", module}, {"container", id}, {"exitCode", term.exitCode}});
  setStatus(ctx.pod, name, [&](ContainerRecord& c) {
    ++c.status.restartCount;
    c.status.lastTermination = term;
    c.postStartDone = !c.spec.lifecycle.postStart;
  });
  records_.persist();
  return afterStart(ctx, name, id);
}

PodSync::Outcome PodSync::createAndStart(Ctx& ctx, const std::string& name) {
  Created c = createMember(ctx, name);
  if (c.wake) ctx.wakeIn(*c.wake);
  if (!c.id) return {c.status, std::nullopt};
  if (Status s = startMember(ctx, name, *c.id); !s.isOk()) return {s, std::nullopt};
  return afterStart(ctx, name, *c.id);
}

PodSync::Created PodSync::createMember(const Ctx& ctx, const std::string& name) {
  const ContainerRecord cr = ctx.rec.containers.at(name);
  const protocol::ContainerSpec& spec = cr.spec;
  Created out;
  setStatus(ctx.pod, name, [&](ContainerRecord& c) {
    c.containerId.clear();
    c.status.containerId.clear();
    if (c.pullNotBefore && Clock::now() < *c.pullNotBefore) {
      out.wake = remaining(*c.pullNotBefore);
      setWaiting(c.status, "ImagePullBackOff",
                 "Back-off pulling image \"" + spec.image + "\": " + c.pullError);
    }
  });
  if (out.wake) return out;
  auto creds = records_.credentials();
  auto auth = credentialFor(spec.image, creds);
  auto image = engine_.ensureImage(spec.image, spec.pullPolicy, auth ? &*auth : nullptr);
  if (!image.isOk()) {
    milliseconds delay{0};
    std::string reason = image.status().code() == common::StatusCode::kInvalidArgument
                             ? "InvalidImageName"
                         : spec.pullPolicy == protocol::PullPolicy::kNever ? "ErrImageNeverPull"
                                                                           : "ErrImagePull";
    setStatus(ctx.pod, name, [&](ContainerRecord& c) {
      c.pullBackoff = c.pullBackoff.count() == 0
                          ? opts_.pullBackoffInitial
                          : std::min(c.pullBackoff * 2, opts_.pullBackoffMax);
      delay = c.pullBackoff;
      c.pullNotBefore = Clock::now() + delay;
      c.pullError = image.status().message();
      setWaiting(c.status, reason, image.status().message());
    });
    common::log::warn("image pull failed", {{"module", cr.status.name},
                                            {"image", spec.image},
                                            {"error", image.status().toString()},
                                            {"retryIn", seconds(delay)}});
    out.wake = delay;
    return out;
  }
  // (The waiting reason and image id are recorded with the container id below: one change.)
  auto pulled = [&](ContainerRecord& c) {
    c.pullBackoff = milliseconds(0);
    c.pullNotBefore.reset();
    c.pullError.clear();
    c.status.imageId = image->id;
    setWaiting(c.status, "ContainerCreating", "");
  };
  auto config = memberConfig(ctx.spec(), spec, cr.kind, cr.hash, opts_.agentId, ctx.infraId,
                             ctx.rec.volumes, *image);
  if (!config.isOk()) {
    setStatus(ctx.pod, name, [&](ContainerRecord& c) {
      pulled(c);
      setWaiting(c.status, "CreateContainerConfigError", config.status().message());
    });
    out.status = config.status();
    return out;
  }
  auto id = engine_.create(*config);
  if (!id.isOk()) {
    setStatus(ctx.pod, name, [&](ContainerRecord& c) {
      pulled(c);
      setWaiting(c.status, "CreateContainerError", id.status().message());
    });
    out.status = id.status();
    return out;
  }
  common::log::info("created container",
                    {{"module", cr.status.name}, {"container", *id}, {"image", spec.image}});
  setStatus(ctx.pod, name, [&](ContainerRecord& c) {
    pulled(c);
    c.containerId = *id;
    c.status.containerId = *id;
    c.postStartDone = !c.spec.lifecycle.postStart;
  });
  out.id = *id;
  return out;
}

Status PodSync::precreate(Ctx& ctx, const std::vector<std::string>& names,
                          std::set<std::string>& notCreated) {
  std::vector<std::future<Created>> creating;
  for (const auto& n : names) {
    creating.push_back(
        std::async(std::launch::async, [this, &ctx, n] { return createMember(ctx, n); }));
  }
  Status first;
  for (std::size_t i = 0; i < names.size(); ++i) {
    Created c = creating[i].get();
    if (c.wake) ctx.wakeIn(*c.wake);
    if (first.isOk() && !c.status.isOk()) first = c.status;
    if (!c.id) {
      notCreated.insert(names[i]);
      continue;
    }
    engine::ContainerInfo info;
    info.id = *c.id;
    info.status = engine::ContainerStatus::kCreated;
    ctx.current[names[i]] = std::move(info);
  }
  return first;
}

PodSync::Outcome PodSync::afterStart(Ctx& ctx, const std::string& name, const std::string& id) {
  const ContainerRecord cr = ctx.rec.containers.at(name);
  auto info = engine_.inspect(id);
  // Probing starts before the status says running, so that the change the status makes is
  // reported with the container already started (and ready, without probes) — one report.
  const bool running = info.isOk() && info->status == engine::ContainerStatus::kRunning;
  if (cr.kind != ContainerKind::kInit && running && !cr.spec.lifecycle.postStart) {
    track(ctx, name, id);
  }
  if (info.isOk()) {
    setStatus(ctx.pod, name, [&](ContainerRecord& c) {
      if (info->status == engine::ContainerStatus::kRunning) {
        c.status.state = ModuleState::kRunning;
        c.status.reason.clear();
        c.status.message.clear();
        c.status.exitCode.reset();
        c.status.startedAt = rfc3339(info->startedAt);
        c.status.finishedAt.clear();
      }
    });
  }
  if (cr.spec.lifecycle.postStart && info.isOk() &&
      info->status == engine::ContainerStatus::kRunning) {
    Status hook = runHook(io_, *cr.spec.lifecycle.postStart, ctx.target(id), ctx.pod, cr.spec.name,
                          opts_.postStartTimeout, [this] { return cancelled_.load(); });
    if (!hook.isOk()) {
      common::log::warn("postStart hook failed; killing the container",
                        {{"module", cr.status.name}, {"error", hook.message()}});
      (void)engine_.stop(id, std::chrono::seconds(std::max(2, ctx.rec.gracePeriodSeconds)));
      records_.touched(ctx.pod);
      setStatus(ctx.pod, name, [&](ContainerRecord& c) {
        setWaiting(c.status, "PostStartHookError", hook.message());
        c.postStartDone = false;
      });
      return {Status::ok(), milliseconds(1)};  // the exit is handled (with back-off) next
    }
    if (cr.kind != ContainerKind::kInit) track(ctx, name, id);
    setStatus(ctx.pod, name, [](ContainerRecord& c) { c.postStartDone = true; });
  }
  if (cr.kind != ContainerKind::kInit) track(ctx, name, id);  // (no-op when tracked above)
  // What happens to it next (an exit, an init container completing) the relist sees, as the
  // kubelet's PLEG does; a pass right away would only repeat engine calls.
  return {};
}

}  // namespace skiff::edge_agent::pod
