// Informer: a list+watch cache of one resource with event handlers, the read side of every
// controller and of the scheduler. It lists, then watches from the list's revision; when the
// watch reports Gone (history compacted, watcher too slow) it relists and reconciles its cache,
// emitting the adds/updates/deletes it missed. Handlers run on the informer's thread and must
// only enqueue keys. Cached objects are immutable (shared_ptr<const Json>).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "control_plane/apiserver/object_store.h"

namespace skiff::control_plane::controllers {

using common::Json;
using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name" or "name" for cluster-scoped objects.
std::string objectKeyOf(const Json& obj);
std::pair<std::string, std::string> splitKey(const std::string& key);

struct EventHandlers {
  std::function<void(const ObjectPtr&)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr&)> onDelete;
};

class Informer {
 public:
  Informer(apiserver::ObjectStore& store, const apiserver::ResourceInfo& resource);
  ~Informer();

  // Register before start().
  void addHandlers(EventHandlers h);
  void start();
  void stop();
  bool hasSynced() const { return synced_.load(); }
  // Blocks until the first list is in the cache (or stop).
  bool waitForSync(std::chrono::milliseconds timeout) const;

  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> listNamespace(const std::string& ns) const;
  const apiserver::ResourceInfo& resource() const { return resource_; }

 private:
  void run(std::stop_token st);
  common::Status relist(std::int64_t* revision);
  void apply(const std::string& key, ObjectPtr obj);  // obj null = delete

  apiserver::ObjectStore& store_;
  const apiserver::ResourceInfo& resource_;
  std::vector<EventHandlers> handlers_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjectPtr> cache_;
  std::atomic<bool> synced_{false};
  std::jthread thread_;
};

}  // namespace skiff::control_plane::controllers
