// Controller run loop and owner-reference helpers.
#include "control_plane/controllers/controller.h"

#include "common/json.h"
#include "common/log.h"

namespace skiff::control_plane::controllers {

void Controller::start() {
  if (started_) return;
  started_ = true;
  for (int i = 0; i < workers_; ++i) {
    threads_.emplace_back([this] {
      while (auto key = queue_.get()) {
        common::Status s;
        try {
          s = reconcile(*key);
        } catch (const std::exception& e) {
          s = common::internalError(e.what());
        }
        if (s.isOk()) {
          queue_.forget(*key);
        } else {
          if (s.code() != common::StatusCode::kConflict) {
            common::log::warn("reconcile failed",
                              {{"controller", name_}, {"key", *key}, {"error", s.toString()}});
          }
          queue_.addRateLimited(*key);
        }
        queue_.done(*key);
      }
    });
  }
}

void Controller::stop() {
  queue_.shutDown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::vector<OwnerRef> ownerRefs(const common::Json& obj) {
  std::vector<OwnerRef> out;
  if (!obj.contains("metadata")) return out;
  const auto& m = obj["metadata"];
  if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array()) return out;
  for (const auto& r : m["ownerReferences"]) {
    if (!r.is_object()) continue;
    out.push_back({r.value("apiVersion", ""), r.value("kind", ""), r.value("name", ""),
                   r.value("uid", ""), r.value("controller", false),
                   r.value("blockOwnerDeletion", false)});
  }
  return out;
}

std::optional<OwnerRef> controllerRef(const common::Json& obj) {
  for (auto& r : ownerRefs(obj)) {
    if (r.controller) return r;
  }
  return std::nullopt;
}

common::Json ownerRefJson(const common::Json& owner, bool controller) {
  return {{"apiVersion", owner.value("apiVersion", "")},
          {"kind", owner.value("kind", "")},
          {"name", owner["metadata"].value("name", "")},
          {"uid", owner["metadata"].value("uid", "")},
          {"controller", controller},
          {"blockOwnerDeletion", true}};
}

}  // namespace skiff::control_plane::controllers
