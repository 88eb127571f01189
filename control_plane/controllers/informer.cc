// Informer implementation.
#include "control_plane/controllers/informer.h"

#include "common/daemon.h"
#include "common/log.h"

namespace skiff::control_plane::controllers {

std::string objectKeyOf(const Json& obj) {
  std::string ns = apiserver::metaString(obj, "namespace");
  std::string name = apiserver::metaString(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Informer::Informer(apiserver::ObjectStore& store, const apiserver::ResourceInfo& resource)
    : store_(store), resource_(resource) {}

Informer::~Informer() { stop(); }

void Informer::addHandlers(EventHandlers h) { handlers_.push_back(std::move(h)); }

void Informer::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void Informer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!synced_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

ObjectPtr Informer::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(cache_.size());
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

std::vector<ObjectPtr> Informer::listNamespace(const std::string& ns) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  std::string prefix = ns + "/";
  for (auto it = cache_.lower_bound(prefix); it != cache_.end() && it->first.starts_with(prefix);
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

void Informer::apply(const std::string& key, ObjectPtr obj) {
  ObjectPtr old;
  {
    std::unique_lock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) old = it->second;
    if (obj)
      cache_[key] = obj;
    else if (it != cache_.end())
      cache_.erase(it);
  }
  for (const auto& h : handlers_) {
    if (obj && !old && h.onAdd)
      h.onAdd(obj);
    else if (obj && old && h.onUpdate)
      h.onUpdate(old, obj);
    else if (!obj && old && h.onDelete)
      h.onDelete(old);
  }
}

common::Status Informer::relist(std::int64_t* revision) {
  auto list = store_.list(resource_, std::nullopt);
  if (!list.isOk()) return list.status();
  std::map<std::string, ObjectPtr> fresh;
  for (auto& obj : list->items) {
    std::string key = objectKeyOf(obj);  // before the move: argument order is unspecified
    fresh.emplace(std::move(key), std::make_shared<const Json>(std::move(obj)));
  }
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
    if (old && apiserver::metaString(*old, "resourceVersion") ==
                   apiserver::metaString(*v, "resourceVersion")) {
      continue;
    }
    apply(k, v);
  }
  *revision = list->revision;
  common::log::debug("informer listed", {{"resource", resource_.resource},
                                         {"items", std::to_string(fresh.size())},
                                         {"revision", std::to_string(list->revision)}});
  synced_ = true;
  return common::Status::ok();
}

void Informer::run(std::stop_token st) {
  std::int64_t revision = 0;
  bool needList = true;
  std::unique_ptr<apiserver::ObjectWatch> watch;
  while (!st.stop_requested()) {
    if (needList) {
      auto s = relist(&revision);
      if (!s.isOk()) {
        common::log::warn("informer list failed",
                          {{"resource", resource_.resource}, {"error", s.toString()}});
        common::sleepFor(st, std::chrono::seconds(1));
        continue;
      }
      needList = false;
      watch.reset();
    }
    if (!watch) {
      auto w = store_.watch(resource_, std::nullopt, revision);
      if (!w.isOk()) {
        needList = true;
        common::sleepFor(st, std::chrono::milliseconds(200));
        continue;
      }
      watch = std::move(*w);
    }
    auto ev = watch->next(std::chrono::milliseconds(200));
    if (!ev.isOk()) {
      // Gone or store trouble: start over from a fresh list (level-triggered, nothing lost).
      needList = true;
      continue;
    }
    if (!*ev) continue;
    revision = (*ev)->revision;
    std::string key = objectKeyOf((*ev)->object);
    if ((*ev)->type == apiserver::ObjectEvent::Type::kDeleted) {
      apply(key, nullptr);
    } else {
      apply(key, std::make_shared<const Json>(std::move((*ev)->object)));
    }
  }
}

}  // namespace skiff::control_plane::controllers
