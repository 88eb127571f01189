// Base of every level-triggered controller: informer handlers only enqueue keys; worker threads
// take keys from a de-duplicating work queue and call reconcile(key), which reads the informer
// caches, compares desired with actual state and writes through the Client (client.h). Errors
// re-queue the key with exponential backoff; success resets it.
#pragma once

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "control_plane/controllers/work_queue.h"

namespace skiff::control_plane::controllers {

class Controller {
 public:
  Controller(std::string name, int workers) : name_(std::move(name)), workers_(workers) {}
  virtual ~Controller() { stop(); }
  // Register informer handlers here (called before informers start).
  virtual void registerHandlers() = 0;
  void start();
  void stop();
  const std::string& name() const { return name_; }
  WorkQueue& queue() { return queue_; }
  // One reconcile pass for key, as a worker runs it (tests drive a controller with it, reading
  // the actions its Client recorded).
  common::Status sync(const std::string& key) { return reconcile(key); }

 protected:
  virtual common::Status reconcile(const std::string& key) = 0;

 private:
  std::string name_;
  int workers_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
  bool started_ = false;
};

}  // namespace skiff::control_plane::controllers
