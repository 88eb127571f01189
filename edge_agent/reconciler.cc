// Reconciler (see reconciler.h).
#include "edge_agent/reconciler.h"

#include <algorithm>
#include <set>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "edge_agent/container_spec.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
using common::Json;
using common::Result;
using common::Status;
using std::chrono::milliseconds;

namespace {

std::string rfc3339(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? common::formatRfc3339(*t) : std::string();
}

milliseconds remaining(std::chrono::steady_clock::time_point until) {
  auto d = std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
  return std::max(d, milliseconds(1));
}

std::string seconds(milliseconds d) {
  return common::formatDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

int stopTimeoutOf(const engine::ContainerInfo& c) {
  auto it = c.labels.find(std::string(kLabelStopTimeout));
  if (it == c.labels.end()) return 10;
  try {
    return std::clamp(std::stoi(it->second), 0, 3600);
  } catch (...) {
    return 10;
  }
}

void setWaiting(protocol::ModuleStatus& s, std::string reason, std::string message) {
  s.state = protocol::ModuleState::kWaiting;
  s.reason = std::move(reason);
  s.message = std::move(message);
  s.exitCode.reset();
  s.ready = false;
}

protocol::Termination terminationOf(const engine::ContainerInfo& info) {
  protocol::Termination t;
  t.exitCode = info.exitCode;
  t.reason = info.oomKilled ? "OOMKilled" : (info.exitCode == 0 ? "Completed" : "Error");
  t.startedAt = rfc3339(info.startedAt);
  t.finishedAt = rfc3339(info.finishedAt);
  return t;
}

Json terminationJson(const protocol::Termination& t) {
  return {{"exitCode", t.exitCode},
          {"reason", t.reason},
          {"startedAt", t.startedAt},
          {"finishedAt", t.finishedAt}};
}

}  // namespace

Reconciler::Reconciler(ReconcilerOptions opts, engine::ContainerEngine& engine,
                       engine::ContainerIo& io, OnChange onChange)
    : opts_(std::move(opts)),
      engine_(engine),
      io_(io),
      onChange_(std::move(onChange)),
      prober_(io,
              [this](const std::string& module) {
                queue_.add(module);
                notify();
              }),
      queue_(opts_.errorBackoffBase, opts_.crashLoopMax) {
  loadRuntime();
}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() {
  if (started_.exchange(true)) return;
  for (int i = 0; i < std::max(1, opts_.workers); ++i) {
    workers_.emplace_back([this] { workerLoop(); });
  }
  relister_ = std::jthread([this](std::stop_token st) { relistLoop(st); });
}

void Reconciler::stop() {
  if (stopped_.exchange(true)) return;
  queue_.shutDown();
  if (relister_.joinable()) {
    relister_.request_stop();
    relistCv_.notify_all();
    relister_.join();
  }
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  prober_.stopAll();
}

void Reconciler::forgetObserved(const std::string& key) {
  // After the agent itself starts a container, the relist's last fingerprint ("exited") may
  // equal the next one if the container dies again between two relists: forget it so that exit
  // is seen as a change.
  std::lock_guard lock(mu_);
  observed_.erase(key);
}

void Reconciler::notify() {
  if (onChange_) onChange_();
}

std::shared_ptr<std::mutex> Reconciler::lockFor(const std::string& key) {
  std::lock_guard lock(mu_);
  auto& l = keyLocks_[key];
  if (!l) l = std::make_shared<std::mutex>();
  return l;
}

void Reconciler::update(const std::string& key, const std::function<void(Module&)>& fn) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto it = modules_.find(key);
    if (it == modules_.end()) return;
    protocol::ModuleStatus before = it->second.status;
    fn(it->second);
    changed = !(before == it->second.status);
  }
  if (changed) notify();
}

// ---- Desired state ------------------------------------------------------------------------------

void Reconciler::setDesired(const protocol::DesiredState& desired) {
  std::set<std::string> keys;       // new, changed or removed modules: now
  std::set<std::string> unchanged;  // everything else: shortly after (a level-triggered recheck)
  {
    std::lock_guard lock(mu_);
    desiredKnown_ = true;
    credentials_ = desired.registryCredentials;
    std::set<std::string> names;
    for (const auto& spec : desired.modules) {
      names.insert(spec.name);
      std::string hash = protocol::specHash(spec);
      auto [it, inserted] = modules_.try_emplace(spec.name);
      Module& m = it->second;
      if (!inserted && m.hash == hash && m.spec) unchanged.insert(spec.name);
      if (inserted || m.hash != hash) {
        // A new spec starts over: restart count, backoffs and last termination belong to the
        // container of the previous spec. An unchanged spec after an agent restart resumes.
        Module fresh;
        auto p = persisted_.find(spec.name);
        if (p != persisted_.end() && p->second.specHash == hash) {
          fresh.status.restartCount = p->second.restartCount;
          fresh.status.lastTermination = p->second.lastTermination;
        }
        fresh.containerId = inserted ? "" : m.containerId;
        m = std::move(fresh);
        setWaiting(m.status, "ContainerCreating", "");
      }
      m.spec = spec;
      m.hash = hash;
      m.status.name = spec.name;
      m.status.deploymentId = spec.deploymentId;
      m.status.specHash = hash;
      m.status.image = spec.image;
      if (unchanged.count(spec.name) == 0) keys.insert(spec.name);
    }
    for (auto& [name, m] : modules_) {
      if (names.count(name) == 0) {
        m.spec.reset();
        keys.insert(name);
      }
    }
    for (const auto& [name, fp] : observed_) {
      if (unchanged.count(name) == 0) keys.insert(name);
    }
  }
  // Changed modules first: unchanged ones only need the periodic recheck, and queueing them
  // ahead would delay the modules this document is about behind engine round trips.
  for (const auto& k : keys) queue_.add(k, /*urgent=*/true);
  for (const auto& k : unchanged) queue_.addAfter(k, std::chrono::seconds(1));
  {
    std::lock_guard lock(relistMu_);
    relistNow_ = true;  // find containers of modules we have never heard of (to remove them)
  }
  relistCv_.notify_all();
  notify();
}

bool Reconciler::hasDesired() const {
  std::lock_guard lock(mu_);
  return desiredKnown_;
}

std::vector<protocol::ModuleStatus> Reconciler::statuses() const {
  std::vector<std::pair<protocol::ModuleStatus, bool>> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, m] : modules_) {
      if (m.spec) out.emplace_back(m.status, m.spec->livenessProbe || m.spec->readinessProbe);
    }
  }
  std::vector<protocol::ModuleStatus> result;
  for (auto& [s, probed] : out) {
    if (s.state == protocol::ModuleState::kRunning) {
      if (probed) {
        Prober::State p = prober_.state(s.name);
        s.ready = p.ready;
        s.health = p.health;
      } else {
        s.ready = true;
        s.health = protocol::Health::kHealthy;
      }
    }
    result.push_back(std::move(s));
  }
  return result;
}

Result<std::string> Reconciler::containerOf(const std::string& module) const {
  {
    std::lock_guard lock(mu_);
    auto it = modules_.find(module);
    if (it != modules_.end() && !it->second.containerId.empty()) return it->second.containerId;
  }
  auto list = engine_.list(
      {{std::string(kLabelAgent), opts_.agentId}, {std::string(kLabelModule), module}});
  if (!list.isOk()) return list.status();
  if (list->empty()) return common::notFound("module \"" + module + "\" has no container");
  return list->front().id;
}

std::map<std::string, std::string> Reconciler::runningContainers() const {
  std::map<std::string, std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, m] : modules_) {
    if (m.spec && m.status.state == protocol::ModuleState::kRunning && !m.containerId.empty()) {
      out[name] = m.containerId;
    }
  }
  return out;
}

// ---- Loops --------------------------------------------------------------------------------------

void Reconciler::workerLoop() {
  while (auto key = queue_.get()) {
    Outcome out;
    out = reconcile(*key);
    if (!out.status.isOk()) {
      milliseconds delay = queue_.addRateLimited(*key);
      common::log::warn("reconcile failed", {{"module", *key},
                                             {"error", out.status.toString()},
                                             {"retryIn", common::formatDuration(delay)}});
    } else {
      queue_.forget(*key);
      if (out.requeueAfter) queue_.addAfter(*key, *out.requeueAfter);
    }
    queue_.done(*key);
  }
}

void Reconciler::relistLoop(std::stop_token stop) {
  auto lastFull = std::chrono::steady_clock::now();
  bool reportedDown = false;
  while (!stop.stop_requested()) {
    auto list = engine_.list({{std::string(kLabelAgent), opts_.agentId}});
    if (!list.isOk()) {
      if (!reportedDown) {
        common::log::warn("container engine unreachable; containers are left as they are",
                          {{"error", list.status().toString()}});
      }
      reportedDown = true;
      engineReachable_ = false;
    } else {
      if (reportedDown) common::log::info("container engine reachable again");
      reportedDown = false;
      bool wasReachable = engineReachable_.exchange(true);
      std::map<std::string, std::string> fingerprints;
      for (const auto& c : *list) {
        auto it = c.labels.find(std::string(kLabelModule));
        if (it == c.labels.end()) continue;
        fingerprints[it->second] += c.id + ":" + std::string(engine::toString(c.status)) + ";";
      }
      bool full = std::chrono::steady_clock::now() - lastFull >= opts_.fullResyncInterval;
      if (full) lastFull = std::chrono::steady_clock::now();
      std::vector<std::string> changed;
      {
        std::lock_guard lock(mu_);
        std::set<std::string> keys;
        for (const auto& [k, m] : modules_) keys.insert(k);
        for (const auto& [k, fp] : fingerprints) keys.insert(k);
        for (const auto& [k, fp] : observed_) keys.insert(k);
        for (const auto& k : keys) {
          auto it = fingerprints.find(k);
          std::string fp = it == fingerprints.end() ? "" : it->second;
          std::string& old = observed_[k];
          if (fp != old || full || !wasReachable) changed.push_back(k);
          old = fp;
          if (fp.empty() && modules_.count(k) == 0) observed_.erase(k);
        }
        if (!desiredKnown_) changed.clear();  // nothing is touched before desired state is known
      }
      for (const auto& k : changed) queue_.add(k);
    }
    std::unique_lock lock(relistMu_);
    relistCv_.wait_for(lock, stop, opts_.relistInterval, [this] { return relistNow_; });
    relistNow_ = false;
  }
}

// ---- Reconcile ----------------------------------------------------------------------------------

Reconciler::Outcome Reconciler::reconcile(const std::string& key) {
  auto keyLock = lockFor(key);
  std::lock_guard guard(*keyLock);
  std::optional<protocol::ModuleSpec> spec;
  std::string hash;
  {
    std::lock_guard lock(mu_);
    if (!desiredKnown_) return {};
    auto it = modules_.find(key);
    if (it != modules_.end() && it->second.spec) {
      spec = it->second.spec;
      hash = it->second.hash;
    }
  }
  auto listed =
      engine_.list({{std::string(kLabelAgent), opts_.agentId}, {std::string(kLabelModule), key}});
  if (!listed.isOk()) return {listed.status(), std::nullopt};

  if (!spec) {
    prober_.untrack(key);
    for (const auto& c : *listed) {
      common::log::info("removing module", {{"module", key}, {"container", c.id}});
      Status st = stopAndRemove(c);
      if (!st.isOk()) return {st, std::nullopt};
    }
    removeModuleFiles(opts_.stateDir, key);
    bool erased = false;
    {
      std::lock_guard lock(mu_);
      auto it = modules_.find(key);
      if (it != modules_.end() && !it->second.spec) {
        modules_.erase(it);
        erased = true;
      }
      erased = persisted_.erase(key) > 0 || erased;
    }
    if (erased) {
      saveRuntime();
      notify();
    }
    return {};
  }

  std::vector<engine::ContainerInfo> current;
  for (const auto& c : *listed) {
    auto it = c.labels.find(std::string(kLabelSpecHash));
    if (it != c.labels.end() && it->second == hash) {
      current.push_back(c);
      continue;
    }
    common::log::info("replacing container of changed module",
                      {{"module", key}, {"container", c.id}, {"newSpecHash", hash}});
    if (prober_.tracking(key, c.id)) prober_.untrack(key);
    Status s = stopAndRemove(c);
    if (!s.isOk()) return {s, std::nullopt};
  }
  if (listed->size() != current.size()) removeModuleFiles(opts_.stateDir, key, hash);
  // Only one container per spec: keep a running one, remove the rest (e.g. after a crash between
  // create and the agent noticing).
  std::stable_partition(current.begin(), current.end(), [](const engine::ContainerInfo& c) {
    return c.status == engine::ContainerStatus::kRunning;
  });
  while (current.size() > 1) {
    Status s = stopAndRemove(current.back());
    if (!s.isOk()) return {s, std::nullopt};
    current.pop_back();
  }
  if (current.empty()) return createAndStart(key, *spec, hash);
  return sync(key, *spec, current.front().id);
}

Status Reconciler::stopAndRemove(const engine::ContainerInfo& c) {
  if (c.status == engine::ContainerStatus::kRunning ||
      c.status == engine::ContainerStatus::kPaused ||
      c.status == engine::ContainerStatus::kRestarting) {
    Status s = engine_.stop(c.id, std::chrono::seconds(stopTimeoutOf(c)));
    if (!s.isOk() && s.code() != common::StatusCode::kNotFound) return s;
  }
  return engine_.remove(c.id);
}

Reconciler::Outcome Reconciler::createAndStart(const std::string& key,
                                               const protocol::ModuleSpec& spec,
                                               const std::string& hash) {
  std::optional<milliseconds> backingOff;
  std::vector<protocol::RegistryCredential> creds;
  {
    std::lock_guard lock(mu_);
    creds = credentials_;
  }
  update(key, [&](Module& m) {
    m.containerId.clear();
    if (m.pullNotBefore && std::chrono::steady_clock::now() < *m.pullNotBefore) {
      backingOff = remaining(*m.pullNotBefore);
      setWaiting(m.status, "ImagePullBackOff",
                 "Back-off pulling image \"" + spec.image + "\": " + m.pullError);
    } else if (m.status.reason != "ErrImagePull") {
      setWaiting(m.status, "ContainerCreating", "");
    }
    m.status.containerId.clear();
  });
  if (backingOff) return {Status::ok(), backingOff};

  auto auth = credentialFor(spec.image, creds);
  auto imageId = engine_.ensureImage(spec.image, spec.pullPolicy, auth ? &*auth : nullptr);
  if (!imageId.isOk()) {
    milliseconds delay{0};
    update(key, [&](Module& m) {
      m.pullBackoff = m.pullBackoff.count() == 0
                          ? opts_.pullBackoffInitial
                          : std::min(m.pullBackoff * 2, opts_.pullBackoffMax);
      delay = m.pullBackoff;
      m.pullNotBefore = std::chrono::steady_clock::now() + delay;
      m.pullError = imageId.status().message();
      setWaiting(m.status, "ErrImagePull", imageId.status().message());
    });
    common::log::warn("image pull failed", {{"module", key},
                                            {"image", spec.image},
                                            {"error", imageId.status().toString()},
                                            {"retryIn", seconds(delay)}});
    return {Status::ok(), delay};
  }
  update(key, [&](Module& m) {
    m.pullBackoff = milliseconds(0);
    m.pullNotBefore.reset();
    m.pullError.clear();
    m.status.imageId = *imageId;
    if (m.status.reason == "ErrImagePull") setWaiting(m.status, "ContainerCreating", "");
  });

  auto config = prepareContainer(spec, hash, opts_.agentId, opts_.stateDir);
  Result<std::string> id =
      config.isOk() ? engine_.create(*config) : Result<std::string>(config.status());
  if (!id.isOk()) {
    update(key,
           [&](Module& m) { setWaiting(m.status, "CreateContainerError", id.status().message()); });
    return {id.status(), std::nullopt};
  }
  common::log::info("created container",
                    {{"module", key}, {"container", *id}, {"image", spec.image}});
  update(key, [&](Module& m) {
    m.containerId = *id;
    m.status.containerId = *id;
  });
  Status started = engine_.start(*id);
  forgetObserved(key);
  if (!started.isOk()) {
    update(key,
           [&](Module& m) { setWaiting(m.status, "CreateContainerError", started.message()); });
    return {started, std::nullopt};
  }
  return sync(key, spec, *id);
}

Reconciler::Outcome Reconciler::sync(const std::string& key, const protocol::ModuleSpec& spec,
                                     const std::string& containerId) {
  auto info = engine_.inspect(containerId);
  if (!info.isOk()) {
    if (info.status().code() == common::StatusCode::kNotFound)
      return {Status::ok(), milliseconds(1)};
    return {info.status(), std::nullopt};
  }
  update(key, [&](Module& m) {
    m.containerId = containerId;
    m.status.containerId = containerId;
    if (!info->imageId.empty()) m.status.imageId = info->imageId;
  });
  const auto now = std::chrono::steady_clock::now();
  switch (info->status) {
    case engine::ContainerStatus::kCreated: {
      Status s = engine_.start(containerId);
      forgetObserved(key);
      if (!s.isOk()) {
        update(key, [&](Module& m) { setWaiting(m.status, "CreateContainerError", s.message()); });
        return {s, std::nullopt};
      }
      return {Status::ok(), milliseconds(1)};
    }
    case engine::ContainerStatus::kRunning: {
      if (!prober_.tracking(key, containerId)) {
        ProbeTarget target{containerId, info->ipAddress, spec.ports};
        prober_.track(key, target, spec.livenessProbe, spec.readinessProbe);
      }
      if (prober_.state(key).livenessFailed) {
        std::string why = prober_.state(key).message;
        common::log::warn("liveness probe failed; restarting container",
                          {{"module", key}, {"container", containerId}, {"reason", why}});
        prober_.untrack(key);
        Status s = engine_.stop(containerId, std::chrono::seconds(spec.stopTimeoutSeconds));
        if (!s.isOk()) return {s, std::nullopt};
        auto after = engine_.inspect(containerId);
        Status started = engine_.start(containerId);
        forgetObserved(key);
        if (!started.isOk()) return {started, std::nullopt};
        update(key, [&](Module& m) {
          ++m.status.restartCount;
          if (after.isOk()) m.status.lastTermination = terminationOf(*after);
          m.status.message = why;
        });
        saveRuntime();
        return {Status::ok(), milliseconds(1)};
      }
      update(key, [&](Module& m) {
        m.status.state = protocol::ModuleState::kRunning;
        m.status.reason.clear();
        m.status.message.clear();
        m.status.exitCode.reset();
        m.status.startedAt = rfc3339(info->startedAt);
        m.status.finishedAt.clear();
      });
      return {};
    }
    case engine::ContainerStatus::kExited:
    case engine::ContainerStatus::kDead: {
      prober_.untrack(key);
      protocol::Termination term = terminationOf(*info);
      bool restart =
          spec.restartPolicy == protocol::RestartPolicy::kAlways ||
          (spec.restartPolicy == protocol::RestartPolicy::kOnFailure && term.exitCode != 0);
      if (!restart) {
        update(key, [&](Module& m) {
          m.status.state = protocol::ModuleState::kTerminated;
          m.status.reason = term.reason;
          m.status.message = info->error;
          m.status.exitCode = term.exitCode;
          m.status.startedAt = term.startedAt;
          m.status.finishedAt = term.finishedAt;
          m.status.ready = false;
        });
        return {};
      }
      std::optional<milliseconds> wait;
      update(key, [&](Module& m) {
        if (!m.handledFinishedAt ||
            *m.handledFinishedAt !=
                info->finishedAt.value_or(std::chrono::system_clock::time_point{})) {
          // A new exit: like the kubelet, restart at once the first time, then wait 10 s, 20 s,
          // … 5 min; a container that ran for crashLoopReset starts over.
          m.handledFinishedAt = info->finishedAt.value_or(std::chrono::system_clock::time_point{});
          if (info->startedAt && info->finishedAt &&
              *info->finishedAt - *info->startedAt >= opts_.crashLoopReset) {
            m.crashBackoff = milliseconds(0);
          }
          m.restartNotBefore = now + m.crashBackoff;
          m.appliedBackoff = m.crashBackoff;
          m.crashBackoff = m.crashBackoff.count() == 0
                               ? opts_.crashLoopInitial
                               : std::min(m.crashBackoff * 2, opts_.crashLoopMax);
        }
        if (m.restartNotBefore && now < *m.restartNotBefore) {
          wait = remaining(*m.restartNotBefore);
          setWaiting(
              m.status, "CrashLoopBackOff",
              "back-off " + seconds(m.appliedBackoff) + " restarting failed container " + key);
          m.status.lastTermination = term;
          m.status.startedAt.clear();
        }
      });
      if (wait) return {Status::ok(), wait};
      Status s = engine_.start(containerId);
      forgetObserved(key);
      if (!s.isOk()) {
        update(key, [&](Module& m) { setWaiting(m.status, "CreateContainerError", s.message()); });
        return {s, std::nullopt};
      }
      common::log::info("restarted exited container",
                        {{"module", key}, {"container", containerId}, {"exitCode", term.exitCode}});
      update(key, [&](Module& m) {
        ++m.status.restartCount;
        m.status.lastTermination = term;
      });
      saveRuntime();
      return {Status::ok(), milliseconds(1)};
    }
    case engine::ContainerStatus::kPaused:
    case engine::ContainerStatus::kRestarting:
    case engine::ContainerStatus::kUnknown:
      update(key, [&](Module& m) {
        setWaiting(m.status, "ContainerCreating",
                   "container is " + std::string(engine::toString(info->status)));
      });
      return {Status::ok(), opts_.relistInterval};
  }
  return {};
}

Status Reconciler::restartModule(const std::string& module) {
  auto keyLock = lockFor(module);
  std::lock_guard guard(*keyLock);
  std::string id;
  int stopTimeout = 10;
  {
    std::lock_guard lock(mu_);
    auto it = modules_.find(module);
    if (it == modules_.end() || !it->second.spec) {
      return common::notFound("module \"" + module + "\" is not desired on this device");
    }
    id = it->second.containerId;
    stopTimeout = it->second.spec->stopTimeoutSeconds;
  }
  if (id.empty()) return common::notFound("module \"" + module + "\" has no container yet");
  prober_.untrack(module);
  SKIFF_RETURN_IF_ERROR(engine_.stop(id, std::chrono::seconds(stopTimeout)));
  auto after = engine_.inspect(id);
  Status started = engine_.start(id);
  forgetObserved(module);
  SKIFF_RETURN_IF_ERROR(started);
  update(module, [&](Module& m) {
    ++m.status.restartCount;
    if (after.isOk()) {
      m.status.lastTermination = terminationOf(*after);
      m.handledFinishedAt = after->finishedAt.value_or(std::chrono::system_clock::time_point{});
    }
  });
  saveRuntime();
  queue_.add(module);
  common::log::info("restarted module on request", {{"module", module}, {"container", id}});
  return Status::ok();
}

// ---- runtime.json -------------------------------------------------------------------------------

void Reconciler::loadRuntime() {
  const std::string path = opts_.stateDir + "/runtime.json";
  auto text = common::readFile(path);
  if (!text.isOk()) return;
  auto j = common::parseJson(*text, 4 << 20);
  if (!j.isOk() || !j->is_object() || !j->contains("modules") || !(*j)["modules"].is_object()) {
    common::log::warn("ignoring unreadable runtime state", {{"file", path}});
    return;
  }
  for (const auto& [name, v] : (*j)["modules"].items()) {
    if (!v.is_object()) continue;
    Persisted p;
    if (v.contains("specHash") && v["specHash"].is_string()) p.specHash = v["specHash"];
    if (v.contains("restartCount") && v["restartCount"].is_number_integer()) {
      p.restartCount = v["restartCount"].get<int>();
    }
    if (v.contains("lastTermination") && v["lastTermination"].is_object()) {
      const Json& t = v["lastTermination"];
      protocol::Termination term;
      if (t.contains("exitCode") && t["exitCode"].is_number_integer())
        term.exitCode = t["exitCode"];
      for (auto [field, out] : {std::pair{"reason", &term.reason},
                                {"startedAt", &term.startedAt},
                                {"finishedAt", &term.finishedAt}}) {
        if (t.contains(field) && t[field].is_string()) *out = t[field].get<std::string>();
      }
      p.lastTermination = term;
    }
    persisted_[name] = std::move(p);
  }
}

void Reconciler::saveRuntime() {
  std::lock_guard saveLock(saveMu_);
  Json modules = Json::object();
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, m] : modules_) {
      if (!m.spec) continue;
      persisted_[name] = {m.hash, m.status.restartCount, m.status.lastTermination};
    }
    for (const auto& [name, p] : persisted_) {
      Json e = {{"specHash", p.specHash}, {"restartCount", p.restartCount}};
      if (p.lastTermination) e["lastTermination"] = terminationJson(*p.lastTermination);
      modules[name] = e;
    }
  }
  Json doc = {{"schema", 1}, {"modules", modules}};
  if (auto s =
          common::writeFileAtomic(opts_.stateDir + "/runtime.json", common::dumpJson(doc), 0600);
      !s.isOk()) {
    common::log::warn("cannot save runtime state", {{"error", s.toString()}});
  }
}

}  // namespace skiff::edge_agent
