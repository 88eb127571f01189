// Leader election through a coordination.k8s.io/v1 Lease, with client-go's algorithm: a
// candidate takes the Lease when it is free or when its record has not changed for
// leaseDuration as observed on the candidate's own monotonic clock (so wall-clock skew between
// replicas does not matter); the leader renews every retryPeriod and steps down when it could
// not renew for renewDeadline (< leaseDuration, so it stops acting before anyone else may
// start). Optimistic concurrency (resourceVersion) makes every take-over a compare-and-swap.
// On stop() a leader releases the Lease so a successor takes over at once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "control_plane/controllers/client.h"

namespace skiff::control_plane::controllers {

struct LeaderElectionOptions {
  std::string ns = "kube-system";
  std::string name = "skiff-control-plane";
  std::string identity;  // unique per replica; empty = defaultLeaderIdentity()
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
};

class LeaderElector {
 public:
  // onStarted/onStopped run on the elector's thread; they must not block for long.
  LeaderElector(Client& client, const common::Clock& clock, LeaderElectionOptions opts,
                std::function<void()> onStartedLeading, std::function<void()> onStoppedLeading);
  ~LeaderElector();
  void start();
  // Stops campaigning; a leader calls onStoppedLeading and releases the Lease.
  void stop();
  bool isLeader() const { return leader_.load(); }
  const std::string& identity() const { return opts_.identity; }

 private:
  void run(std::stop_token st);
  // One acquire-or-renew attempt; true when this replica holds the Lease afterwards.
  bool tryAcquireOrRenew();
  void release();
  void setLeader(bool leader);

  Client& client_;
  const common::Clock& clock_;
  LeaderElectionOptions opts_;
  std::function<void()> onStarted_, onStopped_;
  std::atomic<bool> leader_{false};
  // Last record seen from another holder and when (monotonic) it was first seen.
  common::Json observedSpec_;
  std::chrono::steady_clock::time_point observedAt_{};
  std::jthread thread_;
};

// "<hostname>_<8 hex digits of SHA-256(seed)>". With the data directory as seed a restarted
// replica recognises its own Lease and resumes at once, while replicas on other hosts or with
// other data directories differ. An empty seed gives random digits.
std::string defaultLeaderIdentity(const std::string& seed = "");

}  // namespace skiff::control_plane::controllers
