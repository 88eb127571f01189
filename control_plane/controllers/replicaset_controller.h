// ReplicaSet controller: keeps spec.replicas active pods per ReplicaSet (creating from the
// template, deleting the least useful surplus), with expectations so a cache lagging behind
// its own writes never causes over- or under-shooting; maintains status.
#pragma once

#include <map>
#include <mutex>

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

class ReplicaSetController final : public Controller {
 public:
  ReplicaSetController(Client& client, Informer& replicaSets, Informer& pods);
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  struct Expectation {
    int adds = 0;
    int deletes = 0;
    std::chrono::steady_clock::time_point since;
  };
  void podEvent(const ObjectPtr& pod, bool added, bool deleted);
  bool satisfied(const std::string& key);

  Client& client_;
  Informer& replicaSets_;
  Informer& pods_;
  std::mutex mu_;
  std::map<std::string, Expectation> expectations_;
};

}  // namespace skiff::control_plane::controllers
