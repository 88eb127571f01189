// KubeEventRecorder: the virtual node's EventRecorder over the API (core/v1 Events, like the
// kubelet's recorder). Events are queued and written by one background thread so recording never
// blocks a reconcile; a repeat of the same (object, type, reason, message) within the cache's
// lifetime increments the existing Event's count and lastTimestamp instead of creating another.
// Node events go to the "default" namespace, as the kubelet's do.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "virtual_node/kube/client.h"
#include "virtual_node/provider.h"

namespace skiff::virtual_node {

class KubeEventRecorder final : public EventRecorder {
 public:
  KubeEventRecorder(kube::KubeClient& client, const common::Clock& clock, std::string component,
                    std::string host);
  ~KubeEventRecorder() override;

  void event(const Json& obj, std::string_view type, std::string_view reason,
             std::string_view message) override;
  // Blocks until every queued event has been written (or failed); for tests and shutdown.
  void flush();
  void stop();

 private:
  struct Pending {
    Json involved;
    std::string ns;
    std::string type, reason, message;
    std::chrono::system_clock::time_point at;
  };
  struct Seen {
    std::string name;
    std::string ns;
    long long count = 1;
  };
  void run();
  void write(const Pending& p);

  kube::KubeClient& client_;
  const common::Clock& clock_;
  std::string component_;
  std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::map<std::string, Seen> seen_;  // written by the background thread only
  std::thread thread_;
};

// ObjectReader over the API (ConfigMaps and Secrets are read when a pod is converted).
class KubeObjectReader final : public ObjectReader {
 public:
  explicit KubeObjectReader(kube::KubeClient& client) : client_(client) {}
  common::Result<Json> getConfigMap(const std::string& ns, const std::string& name) override;
  common::Result<Json> getSecret(const std::string& ns, const std::string& name) override;

 private:
  kube::KubeClient& client_;
};

}  // namespace skiff::virtual_node
