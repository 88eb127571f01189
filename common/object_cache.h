// ObjectCache: the cache half of an informer — immutable Kubernetes objects by "namespace/name"
// key, event handlers fanned out on every change, a relist that reconciles the cache with a
// fresh list (emitting the deletes, adds and updates it implies), and the synced flag. Shared by
// the control plane's in-process informers and the virtual node's HTTP informers, which differ
// only in how they list and watch. Reads are thread-safe; apply()/replace() are called from the
// informer's one thread, and handlers run there (they should only enqueue keys).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"

namespace skiff::common {

using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name", or "name" for cluster-scoped objects.
std::string objectKeyOf(const Json& obj);
// The inverse: {"", name} for keys without a namespace.
std::pair<std::string, std::string> splitObjectKey(const std::string& key);

struct ObjectHandlers {
  std::function<void(const ObjectPtr&)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr&)> onDelete;
};

class ObjectCache {
 public:
  // Register before the first apply()/replace().
  void addHandlers(ObjectHandlers h);

  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> listNamespace(const std::string& ns) const;

  // Stores (or, with a null obj, removes) one object and calls the handlers.
  void apply(const std::string& key, ObjectPtr obj);
  // Makes the cache equal to a fresh list: deletes what is gone, adds what is new, updates what
  // changed (by metadata.resourceVersion), then marks the cache synced.
  void replace(std::map<std::string, ObjectPtr> fresh);

  bool hasSynced() const { return synced_.load(); }
  // Blocks until the first replace(); false on timeout.
  bool waitForSync(std::chrono::milliseconds timeout) const;

 private:
  std::vector<ObjectHandlers> handlers_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjectPtr> cache_;
  std::atomic<bool> synced_{false};
};

}  // namespace skiff::common
