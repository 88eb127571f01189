// Reconciler (see reconciler.h).
#include "edge_agent/reconciler.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
using common::Json;
using common::Result;
using common::Status;
using std::chrono::milliseconds;

namespace {

Json terminationJson(const protocol::Termination& t) {
  return {{"exitCode", t.exitCode},
          {"reason", t.reason},
          {"startedAt", t.startedAt},
          {"finishedAt", t.finishedAt}};
}

bool sameStatuses(const pod::PodRecord& a, const pod::PodRecord& b) {
  if (!(a.status == b.status) || a.containers.size() != b.containers.size()) return false;
  for (auto ia = a.containers.begin(), ib = b.containers.begin(); ia != a.containers.end();
       ++ia, ++ib) {
    // postStartDone too: it decides the container's reported `started` (statuses()).
    if (ia->first != ib->first || !(ia->second.status == ib->second.status) ||
        ia->second.postStartDone != ib->second.postStartDone) {
      return false;
    }
  }
  return true;
}

pod::SyncOptions syncOptions(const ReconcilerOptions& o) {
  pod::SyncOptions s;
  s.agentId = o.agentId;
  s.stateDir = o.stateDir;
  s.podNetwork = o.podNetwork;
  s.hostIP = o.hostIP.empty() ? "127.0.0.1" : o.hostIP;
  s.crashLoopInitial = o.crashLoopInitial;
  s.crashLoopMax = o.crashLoopMax;
  s.crashLoopReset = o.crashLoopReset;
  s.pullBackoffInitial = o.pullBackoffInitial;
  s.pullBackoffMax = o.pullBackoffMax;
  s.recheckInterval = o.relistInterval;
  return s;
}

}  // namespace

Reconciler::Reconciler(ReconcilerOptions opts, engine::ContainerEngine& engine,
                       engine::ContainerIo& io, engine::EngineResources& resources,
                       OnChange onChange)
    : opts_(std::move(opts)),
      engine_(engine),
      onChange_(std::move(onChange)),
      prober_(io,
              [this](const std::string& module) {
                queue_.add(std::string(protocol::podOfModule(module)));
                notify();
              }),
      queue_(opts_.errorBackoffBase, opts_.crashLoopMax),
      pause_(engine, resources, opts_.pauseBinary, opts_.podInfraImage),
      sync_(syncOptions(opts_), engine, io, resources, prober_, pause_, *this) {
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
  sync_.cancel();
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

void Reconciler::notify() {
  if (onChange_) onChange_();
}

std::shared_ptr<std::mutex> Reconciler::lockFor(const std::string& key) {
  std::lock_guard lock(mu_);
  auto& l = keyLocks_[key];
  if (!l) l = std::make_shared<std::mutex>();
  return l;
}

// ---- PodRecords -------------------------------------------------------------------------------

std::optional<pod::PodRecord> Reconciler::get(const std::string& pod) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(pod);
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

void Reconciler::update(const std::string& pod, const std::function<void(pod::PodRecord&)>& fn) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto it = pods_.find(pod);
    if (it == pods_.end()) return;
    pod::PodRecord before = it->second;
    fn(it->second);
    changed = !sameStatuses(before, it->second);
  }
  if (changed) notify();
}

void Reconciler::erase(const std::string& pod) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    auto it = pods_.find(pod);
    if (it != pods_.end() && !it->second.desired) {
      pods_.erase(it);
      passed_.erase(pod);  // its containers are gone: a new pod of this name starts fresh
      changed = true;
    }
    if (!pods_.contains(pod)) {
      const std::string prefix = pod + "/";
      changed = std::erase_if(persisted_,
                              [&](const auto& kv) { return kv.first.starts_with(prefix); }) > 0 ||
                changed;
    }
  }
  if (changed) {
    persist();
    notify();
  }
}

std::vector<protocol::RegistryCredential> Reconciler::credentials() const {
  std::lock_guard lock(mu_);
  return credentials_;
}

void Reconciler::touched(const std::string& pod) {
  // After the agent itself changes a container, the relist's last fingerprint may equal the
  // next one if the container changes again between two relists: forget it.
  std::lock_guard lock(mu_);
  observed_.erase(pod);
}

// ---- Desired state ------------------------------------------------------------------------------

void Reconciler::setDesired(const protocol::DesiredState& desired) {
  // New, changed or removed pods, and containers of pods the document does not name (removed
  // by their pass). Unchanged pods are left alone: the relist notices any change of their
  // containers, and requeueing them would delay this document's pods behind engine calls.
  std::set<std::string> keys;
  std::set<std::string> unchanged;
  {
    std::lock_guard lock(mu_);
    desiredKnown_ = true;
    credentials_ = desired.registryCredentials;
    std::set<std::string> names;
    for (const auto& spec : desired.pods) {
      names.insert(spec.name);
      auto [it, inserted] = pods_.try_emplace(spec.name);
      if (!inserted && it->second.desired && it->second.hash == protocol::specHash(spec)) {
        unchanged.insert(spec.name);
        continue;
      }
      pod::applySpec(it->second, spec, persisted_);
      keys.insert(spec.name);
    }
    for (auto& [name, rec] : pods_) {
      if (names.count(name) == 0 && rec.desired) {
        rec.desired = false;
        rec.status.terminating = true;
        keys.insert(name);
      }
    }
    for (const auto& [name, fp] : observed_) {
      if (unchanged.count(name) == 0) keys.insert(name);
    }
  }
  // Containers of pods we have never heard of are found (and removed) by a relist, after this
  // document's passes.
  if (keys.empty()) {
    relistSoon();
  } else {
    relistWhenIdle_ = true;
    for (const auto& k : keys) queue_.add(k, /*urgent=*/true);
  }
  notify();
}

bool Reconciler::hasDesired() const {
  std::lock_guard lock(mu_);
  return desiredKnown_;
}

Reconciler::Statuses Reconciler::statuses() const {
  std::vector<pod::PodRecord> records;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, r] : pods_) records.push_back(r);
  }
  Statuses out;
  for (auto& r : records) {
    for (auto& [name, c] : r.containers) {
      auto& s = c.status;
      if (s.state != protocol::ModuleState::kRunning) continue;
      if (c.kind == protocol::ContainerKind::kInit) {
        s.started = true;
        s.ready = false;
        s.health = protocol::Health::kUnknown;
        continue;
      }
      Prober::State p = prober_.state(s.name);
      bool tracked = prober_.tracking(s.name, c.containerId);
      s.started = tracked && p.started && c.postStartDone;
      s.ready = s.started && p.ready;
      s.health = tracked ? p.health : protocol::Health::kUnknown;
    }
    pod::computePodConditions(r);
    out.pods.push_back(r.status);
    for (auto& [name, c] : r.containers) out.modules.push_back(std::move(c.status));
  }
  std::sort(out.modules.begin(), out.modules.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Status Reconciler::restartModule(const std::string& module) {
  std::string pod(protocol::podOfModule(module));
  std::string container = module.size() > pod.size() ? module.substr(pod.size() + 1) : "";
  auto keyLock = lockFor(pod);
  std::lock_guard guard(*keyLock);
  SKIFF_ASSIGN_OR_RETURN(auto listed, listPod(pod));
  Status s = sync_.restart(pod, container, listed);
  if (s.isOk()) queue_.add(pod);
  return s;
}

Result<std::string> Reconciler::containerOf(const std::string& module) const {
  std::string pod(protocol::podOfModule(module));
  {
    std::lock_guard lock(mu_);
    auto it = pods_.find(pod);
    if (it != pods_.end()) {
      for (const auto& [name, c] : it->second.containers) {
        if (c.status.name == module && !c.containerId.empty()) return c.containerId;
      }
    }
  }
  auto list = engine_.list(
      {{std::string(pod::kLabelAgent), opts_.agentId}, {std::string(pod::kLabelModule), module}});
  if (!list.isOk()) return list.status();
  if (list->empty()) return common::notFound("module \"" + module + "\" has no container");
  return list->front().id;
}

std::map<std::string, std::string> Reconciler::runningContainers() const {
  std::map<std::string, std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [pod, r] : pods_) {
    for (const auto& [name, c] : r.containers) {
      if (c.status.state == protocol::ModuleState::kRunning && !c.containerId.empty()) {
        out[c.status.name] = c.containerId;
      }
    }
  }
  return out;
}

// ---- Loops --------------------------------------------------------------------------------------

void Reconciler::relistSoon() {
  {
    std::lock_guard lock(relistMu_);
    relistNow_ = true;
  }
  relistCv_.notify_all();
}

void Reconciler::workerLoop() {
  while (auto key = queue_.get()) {
    ++passing_;
    pod::PodSync::Outcome out = reconcile(*key);
    if (!out.status.isOk()) {
      auto delay = std::chrono::duration_cast<milliseconds>(queue_.addRateLimited(*key));
      common::log::warn("pod sync failed", {{"pod", *key},
                                            {"error", out.status.toString()},
                                            {"retryIn", common::formatDuration(delay)}});
    } else {
      queue_.forget(*key);
      if (out.requeueAfter) queue_.addAfter(*key, *out.requeueAfter);
    }
    queue_.done(*key);
    if (--passing_ == 0 && queue_.length() == 0 && relistWhenIdle_.exchange(false)) relistSoon();
  }
}

void Reconciler::removeLegacyFiles() {
  // Agents before pods (schema 1) kept per-module files in <stateDir>/modules; once no
  // container of theirs is left, nothing refers to them.
  if (legacyFilesGone_) return;
  legacyFilesGone_ = true;
  std::error_code ec;
  const std::string dir = opts_.stateDir + "/modules";
  if (std::filesystem::remove_all(dir, ec) > 0) {
    common::log::info("removed the files of pre-pod agent versions", {{"dir", dir}});
  }
  if (ec) common::log::warn("cannot remove old files", {{"dir", dir}, {"error", ec.message()}});
}

void Reconciler::relistLoop(std::stop_token stop) {
  auto lastFull = std::chrono::steady_clock::now();
  bool reportedDown = false;
  while (!stop.stop_requested()) {
    auto list = engine_.list({{std::string(pod::kLabelAgent), opts_.agentId}});
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
      bool legacy = false;
      for (const auto& c : *list) {
        std::string key = pod::podKeyOf(c);
        if (key.empty()) continue;
        legacy = legacy || !c.labels.contains(std::string(pod::kLabelPod));
        fingerprints[key] += c.id + ":" + std::string(engine::toString(c.status)) + ";";
      }
      bool known = false;
      {
        std::lock_guard lock(mu_);
        known = desiredKnown_;
      }
      legacyContainers_ = legacy;
      if (!legacy && known) removeLegacyFiles();
      bool full = std::chrono::steady_clock::now() - lastFull >= opts_.fullResyncInterval;
      if (full) lastFull = std::chrono::steady_clock::now();
      std::vector<std::string> changed;
      {
        std::lock_guard lock(mu_);
        std::set<std::string> keys;
        for (const auto& [k, r] : pods_) keys.insert(k);
        for (const auto& [k, fp] : fingerprints) keys.insert(k);
        for (const auto& [k, fp] : observed_) keys.insert(k);
        for (const auto& k : keys) {
          auto it = fingerprints.find(k);
          std::string fp = it == fingerprints.end() ? "" : it->second;
          std::string& old = observed_[k];
          if (fp != old || full || !wasReachable) changed.push_back(k);
          old = fp;
          if (fp.empty() && pods_.count(k) == 0) observed_.erase(k);
        }
        if (!desiredKnown_) changed.clear();  // nothing is touched before desired state is known
        relisted_ = true;
      }
      for (const auto& k : changed) queue_.add(k);
    }
    std::unique_lock lock(relistMu_);
    relistCv_.wait_for(lock, stop, opts_.relistInterval, [this] { return relistNow_; });
    relistNow_ = false;
  }
}

Result<std::vector<engine::ContainerInfo>> Reconciler::listPod(const std::string& pod) {
  std::map<std::string, std::string> filter = {{std::string(pod::kLabelAgent), opts_.agentId}};
  // The engine filters by pod (cheaper with many containers) unless containers of a pre-pod
  // agent, which lack the pod label, may still be around.
  if (!legacyContainers_) filter[std::string(pod::kLabelPod)] = pod;
  SKIFF_ASSIGN_OR_RETURN(auto all, engine_.list(filter));
  std::vector<engine::ContainerInfo> out;
  for (auto& c : all) {
    if (pod::podKeyOf(c) == pod) out.push_back(std::move(c));
  }
  return out;
}

pod::PodSync::Outcome Reconciler::reconcile(const std::string& key) {
  auto keyLock = lockFor(key);
  std::lock_guard guard(*keyLock);
  if (!hasDesired() || stopped_) return {};
  bool fresh = false;
  {
    // The first pass of a pod the relist (which has run since this agent started) never saw
    // containers of: nothing to list, its sandbox is created right away.
    std::lock_guard lock(mu_);
    bool first = passed_.insert(key).second;
    auto seen = observed_.find(key);
    fresh = first && relisted_ && (seen == observed_.end() || seen->second.empty());
  }
  if (fresh) return sync_.sync(key, {});
  auto listed = listPod(key);
  if (!listed.isOk()) return {listed.status(), std::nullopt};
  return sync_.sync(key, *listed);
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
    pod::PersistedContainer p;
    if (v.contains("specHash") && v["specHash"].is_string()) p.hash = v["specHash"];
    if (v.contains("restartCount") && v["restartCount"].is_number_integer()) {
      p.restartCount = v["restartCount"].get<int>();
    }
    if (v.contains("lastTermination") && v["lastTermination"].is_object()) {
      const Json& t = v["lastTermination"];
      protocol::Termination term;
      if (t.contains("exitCode") && t["exitCode"].is_number_integer()) {
        term.exitCode = t["exitCode"];
      }
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

void Reconciler::persist() {
  std::lock_guard saveLock(saveMu_);
  Json modules = Json::object();
  {
    std::lock_guard lock(mu_);
    for (const auto& [pod, r] : pods_) {
      if (!r.desired) continue;
      for (const auto& [name, c] : r.containers) {
        persisted_[c.status.name] = {c.hash, c.status.restartCount, c.status.lastTermination};
      }
    }
    for (const auto& [name, p] : persisted_) {
      Json e = {{"specHash", p.hash}, {"restartCount", p.restartCount}};
      if (p.lastTermination) e["lastTermination"] = terminationJson(*p.lastTermination);
      modules[name] = e;
    }
  }
  Json doc = {{"schema", 2}, {"modules", modules}};
  if (auto s =
          common::writeFileAtomic(opts_.stateDir + "/runtime.json", common::dumpJson(doc), 0600);
      !s.isOk()) {
    common::log::warn("cannot save runtime state", {{"error", s.toString()}});
  }
}

}  // namespace skiff::edge_agent
