// Informer implementation.
#include "control_plane/controllers/informer.h"

#include "common/daemon.h"
#include "common/log.h"

namespace skiff::control_plane::controllers {

Informer::Informer(apiserver::ObjectStore& store, const apiserver::ResourceInfo& resource)
    : store_(&store), resource_(resource) {}

Informer::Informer(const apiserver::ResourceInfo& resource)
    : store_(nullptr), resource_(resource) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  if (store_ == nullptr) {  // synced with what add() put in (unchanged objects emit nothing)
    std::map<std::string, ObjectPtr> now;
    for (auto& o : cache_.list()) now.emplace(objectKeyOf(*o), o);
    cache_.replace(std::move(now));
    return;
  }
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void Informer::add(Json obj) {
  std::string key = objectKeyOf(obj);
  cache_.apply(key, std::make_shared<const Json>(std::move(obj)));
}

void Informer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

common::Status Informer::relist(std::int64_t* revision) {
  auto list = store_->list(resource_, std::nullopt);
  if (!list.isOk()) return list.status();
  std::map<std::string, ObjectPtr> fresh;
  for (auto& obj : list->items) {
    std::string key = objectKeyOf(obj);  // before the move: argument order is unspecified
    fresh.emplace(std::move(key), std::make_shared<const Json>(std::move(obj)));
  }
  *revision = list->revision;
  common::log::debug("informer listed", {{"resource", resource_.resource},
                                         {"items", std::to_string(fresh.size())},
                                         {"revision", std::to_string(list->revision)}});
  cache_.replace(std::move(fresh));
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
      auto w = store_->watch(resource_, std::nullopt, revision);
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
      cache_.apply(key, nullptr);
    } else {
      cache_.apply(key, std::make_shared<const Json>(std::move((*ev)->object)));
    }
  }
}

}  // namespace skiff::control_plane::controllers
