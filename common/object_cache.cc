// ObjectCache implementation.
#include "common/object_cache.h"

#include <mutex>
#include <thread>

namespace skiff::common {

namespace {
std::string metaField(const Json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto v = m->find(key);
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}
}  // namespace

std::string objectKeyOf(const Json& obj) {
  std::string ns = metaField(obj, "namespace");
  std::string name = metaField(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> splitObjectKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

void ObjectCache::addHandlers(ObjectHandlers h) { handlers_.push_back(std::move(h)); }

ObjectPtr ObjectCache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> ObjectCache::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(cache_.size());
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

std::vector<ObjectPtr> ObjectCache::listNamespace(const std::string& ns) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  std::string prefix = ns + "/";
  for (auto it = cache_.lower_bound(prefix); it != cache_.end() && it->first.starts_with(prefix);
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

void ObjectCache::apply(const std::string& key, ObjectPtr obj) {
  ObjectPtr old;
  {
    std::unique_lock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) old = it->second;
    if (obj) {
      cache_[key] = obj;
    } else if (it != cache_.end()) {
      cache_.erase(it);
    }
  }
  for (const auto& h : handlers_) {
    if (obj && !old && h.onAdd) {
      h.onAdd(obj);
    } else if (obj && old && h.onUpdate) {
      h.onUpdate(old, obj);
    } else if (!obj && old && h.onDelete) {
      h.onDelete(old);
    }
  }
}

void ObjectCache::replace(std::map<std::string, ObjectPtr> fresh) {
  std::vector<std::string> gone;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, v] : cache_) {
      if (!fresh.contains(k)) gone.push_back(k);
    }
  }
  for (const auto& k : gone) apply(k, nullptr);
  for (auto& [k, v] : fresh) {
    ObjectPtr old = get(k);
    std::string rv = metaField(*v, "resourceVersion");
    if (old && !rv.empty() && metaField(*old, "resourceVersion") == rv) continue;
    apply(k, std::move(v));
  }
  synced_ = true;
}

bool ObjectCache::waitForSync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!synced_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace skiff::common
