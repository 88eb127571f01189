// LeaderElector implementation.
#include "control_plane/controllers/leader_elector.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

namespace {

const apiserver::ResourceInfo& leases() {
  return *apiserver::findResource("coordination.k8s.io", "v1", "leases");
}

}  // namespace

std::string defaultLeaderIdentity(const std::string& seed) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "skiff");
  unsigned char rnd[SHA256_DIGEST_LENGTH];
  if (seed.empty()) {
    RAND_bytes(rnd, sizeof rnd);
  } else {
    SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), rnd);
  }
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(Client& client, const common::Clock& clock, LeaderElectionOptions opts,
                             std::function<void()> onStartedLeading,
                             std::function<void()> onStoppedLeading)
    : client_(client),
      clock_(clock),
      opts_(std::move(opts)),
      onStarted_(std::move(onStartedLeading)),
      onStopped_(std::move(onStoppedLeading)) {
  if (opts_.identity.empty()) opts_.identity = defaultLeaderIdentity();
}

LeaderElector::~LeaderElector() { stop(); }

void LeaderElector::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void LeaderElector::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void LeaderElector::setLeader(bool leader) {
  if (leader_.exchange(leader) == leader) return;
  common::log::info(leader ? "leader election: became the leader" : "leader election: stepped down",
                    {{"lease", opts_.ns + "/" + opts_.name}, {"identity", opts_.identity}});
  if (leader && onStarted_) onStarted_();
  if (!leader && onStopped_) onStopped_();
}

void LeaderElector::run(std::stop_token st) {
  auto lastRenew = clock_.steadyNow();
  while (!st.stop_requested()) {
    if (!leader_.load()) {
      if (tryAcquireOrRenew()) {
        lastRenew = clock_.steadyNow();
        setLeader(true);
        continue;
      }
      if (!common::sleepFor(st, opts_.retryPeriod)) break;
      continue;
    }
    if (!common::sleepFor(st, opts_.retryPeriod)) break;
    if (tryAcquireOrRenew()) {
      lastRenew = clock_.steadyNow();
    } else if (!leader_.load() || clock_.steadyNow() - lastRenew > opts_.renewDeadline) {
      common::log::warn("leader election: could not renew the lease in time",
                        {{"lease", opts_.ns + "/" + opts_.name}});
      setLeader(false);
    }
  }
  if (leader_.load()) {
    setLeader(false);
    release();
  }
}

bool LeaderElector::tryAcquireOrRenew() {
  using namespace std::chrono;
  const std::string nowWall = common::formatRfc3339Micro(clock_.now());
  const auto now = clock_.steadyNow();
  const long long durationSeconds =
      std::max<long long>(1, (opts_.leaseDuration.count() + 999) / 1000);
  auto current = client_.get(leases(), opts_.ns, opts_.name);
  if (!current.isOk()) {
    if (current.status().code() != common::StatusCode::kNotFound) return false;
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", opts_.name}, {"namespace", opts_.ns}}},
                  {"spec",
                   {{"holderIdentity", opts_.identity},
                    {"leaseDurationSeconds", durationSeconds},
                    {"acquireTime", nowWall},
                    {"renewTime", nowWall},
                    {"leaseTransitions", 0}}}};
    auto created = client_.create(leases(), opts_.ns, lease);
    if (!created.isOk()) return false;
    observedSpec_ = (*created)["spec"];
    observedAt_ = now;
    return true;
  }
  Json lease = std::move(*current);
  Json spec = common::jsonField(lease, "spec");
  if (!spec.is_object()) spec = Json::object();
  if (spec != observedSpec_) {
    observedSpec_ = spec;
    observedAt_ = now;
  }
  std::string holder = common::jsonString(spec, "holderIdentity");
  long long heldFor = 0;
  if (spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer()) {
    heldFor = spec["leaseDurationSeconds"].get<long long>();
  }
  if (!holder.empty() && holder != opts_.identity && now < observedAt_ + seconds(heldFor)) {
    if (leader_.load()) setLeader(false);  // someone else holds it: stop acting at once
    return false;
  }
  long long transitions = 0;
  if (spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer()) {
    transitions = spec["leaseTransitions"].get<long long>();
  }
  Json next = spec;
  next["holderIdentity"] = opts_.identity;
  next["leaseDurationSeconds"] = durationSeconds;
  next["renewTime"] = nowWall;
  if (holder != opts_.identity) {
    next["acquireTime"] = nowWall;
    next["leaseTransitions"] = transitions + 1;
  }
  lease["spec"] = next;
  auto updated = client_.update(leases(), lease);
  if (!updated.isOk()) return false;  // a Conflict means another replica won the race
  observedSpec_ = (*updated)["spec"];
  observedAt_ = now;
  return true;
}

void LeaderElector::release() {
  auto current = client_.get(leases(), opts_.ns, opts_.name);
  if (!current.isOk()) return;
  Json lease = std::move(*current);
  if (common::jsonString(common::jsonField(lease, "spec"), "holderIdentity") != opts_.identity) {
    return;
  }
  std::string nowWall = common::formatRfc3339Micro(clock_.now());
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["acquireTime"] = nowWall;
  lease["spec"]["renewTime"] = nowWall;
  if (auto r = client_.update(leases(), lease); !r.isOk()) {
    common::log::warn("leader election: could not release the lease",
                      {{"error", r.status().toString()}});
  }
}

}  // namespace skiff::control_plane::controllers
