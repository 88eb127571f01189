// Informer: a list+watch cache of one resource over the HTTP API (docs/conventions.md #5), the read
// side of the virtual node's controllers. It lists (paginated), then watches from the list's
// resourceVersion with bookmarks, resuming from the last resourceVersion seen whenever a watch
// ends; a 410 Gone (as an HTTP status or an ERROR event) makes it relist and reconcile its cache,
// emitting the adds, updates and deletes it missed. Failures back off exponentially (with
// jitter) up to maxBackoff. Handlers run on the informer's thread and should only enqueue keys.
// Cached objects are immutable (shared_ptr<const Json>). Thread-safe reads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/object_cache.h"
#include "virtual_node/kube/client.h"

namespace skiff::virtual_node::kube {

using common::objectKeyOf;
using common::ObjectPtr;
using EventHandlers = common::ObjectHandlers;
inline std::pair<std::string, std::string> splitKey(const std::string& key) {
  return common::splitObjectKey(key);
}

struct InformerOptions {
  std::string ns;  // "" = all namespaces
  std::string labelSelector;
  std::string fieldSelector;
  std::chrono::seconds watchTimeout{300};  // server-side timeoutSeconds of one watch
  std::chrono::milliseconds minBackoff{200};
  std::chrono::milliseconds maxBackoff{30000};
  int pageSize = 500;
};

class Informer {
 public:
  Informer(KubeClient& client, ApiResource resource, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Register before start().
  void addHandlers(EventHandlers h) { cache_.addHandlers(std::move(h)); }
  void start();
  void stop();  // idempotent; joins the thread
  bool hasSynced() const { return cache_.hasSynced(); }
  // Blocks until the first list is in the cache; false on timeout.
  bool waitForSync(std::chrono::milliseconds timeout) const { return cache_.waitForSync(timeout); }

  ObjectPtr get(const std::string& key) const { return cache_.get(key); }
  std::vector<ObjectPtr> list() const { return cache_.list(); }
  const ApiResource& resource() const { return resource_; }

  // Observability (and tests): completed lists, and the last resourceVersion seen.
  std::uint64_t listCount() const { return lists_.load(); }
  std::string lastResourceVersion() const;

 private:
  void run(std::stop_token st);
  common::Status relist(std::string* resourceVersion);
  // Ok when the watch ended normally (re-watch from *resourceVersion), Gone to relist.
  common::Status watch(std::string* resourceVersion, std::stop_token st);
  std::string collectionPath() const;

  KubeClient& client_;
  ApiResource resource_;
  InformerOptions opts_;
  common::ObjectCache cache_;
  mutable std::mutex mu_;  // resourceVersion_
  std::string resourceVersion_;
  std::atomic<std::uint64_t> lists_{0};
  std::jthread thread_;
};

}  // namespace skiff::virtual_node::kube
