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

}  // namespace skiff::control_plane::controllers
