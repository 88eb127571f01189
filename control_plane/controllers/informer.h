// Informer: a list+watch cache of one resource with event handlers, the read side of every
// controller and of the scheduler. It lists, then watches from the list's revision; when the
// watch reports Gone (history compacted, watcher too slow) it relists and reconciles its cache,
// emitting the adds/updates/deletes it missed. Handlers run on the informer's thread and must
// only enqueue keys. Cached objects are immutable (shared_ptr<const Json>). The cache itself is
// common::ObjectCache, shared with the virtual node's HTTP informers.
#pragma once

#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/object_cache.h"
#include "control_plane/apiserver/object_store.h"

namespace skiff::control_plane::controllers {

using common::Json;
using common::objectKeyOf;
using common::ObjectPtr;
using EventHandlers = common::ObjectHandlers;

inline std::pair<std::string, std::string> splitKey(const std::string& key) {
  return common::splitObjectKey(key);
}

class Informer {
 public:
  Informer(apiserver::ObjectStore& store, const apiserver::ResourceInfo& resource);
  // An informer without a store, filled with add()/remove() only: what a controller's unit test
  // gives it (as client-go's tests fill an informer's indexer). start() marks it synced.
  explicit Informer(const apiserver::ResourceInfo& resource);
  ~Informer();

  // Puts obj into the cache (or replaces it), running the handlers as a watch event would.
  void add(Json obj);
  // Drops the object of key from the cache, running the delete handlers.
  void remove(const std::string& key) { cache_.apply(key, nullptr); }

  // Register before start().
  void addHandlers(EventHandlers h) { cache_.addHandlers(std::move(h)); }
  void start();
  void stop();
  bool hasSynced() const { return cache_.hasSynced(); }
  // Blocks until the first list is in the cache (or stop).
  bool waitForSync(std::chrono::milliseconds timeout) const { return cache_.waitForSync(timeout); }

  ObjectPtr get(const std::string& key) const { return cache_.get(key); }
  std::vector<ObjectPtr> list() const { return cache_.list(); }
  std::vector<ObjectPtr> listNamespace(const std::string& ns) const {
    return cache_.listNamespace(ns);
  }
  const apiserver::ResourceInfo& resource() const { return resource_; }

 private:
  void run(std::stop_token st);
  common::Status relist(std::int64_t* revision);

  apiserver::ObjectStore* store_;  // nullptr: filled by add()/remove() only
  const apiserver::ResourceInfo& resource_;
  common::ObjectCache cache_;
  std::jthread thread_;
};

}  // namespace skiff::control_plane::controllers
