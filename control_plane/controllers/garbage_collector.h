// Garbage collector for the owner graph Skiff's controllers create (Deployment → ReplicaSet →
// Pod, DaemonSet → Pod): dependents whose owners are gone are deleted (Background);
// owners deleted with propagationPolicy Foreground keep their "foregroundDeletion" finalizer
// until their blocking dependents are gone; Orphan strips the ownerReferences from dependents
// and then drops the "orphan" finalizer.
#pragma once

#include <map>

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

class GarbageCollector final : public Controller {
 public:
  // owners: kind → informer (ReplicaSet, Deployment, DaemonSet); dependents: informers whose
  // objects carry ownerReferences (pods, replicasets).
  GarbageCollector(Client& client, std::map<std::string, Informer*> owners,
                   std::vector<Informer*> dependents);
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  common::Status reconcileDependent(Informer& inf, const std::string& objKey);
  common::Status reconcileOwner(Informer& inf, const std::string& objKey);
  std::vector<std::pair<Informer*, ObjectPtr>> dependentsOf(const Json& owner);

  Client& client_;
  std::map<std::string, Informer*> owners_;
  std::vector<Informer*> dependents_;
};

}  // namespace skiff::control_plane::controllers
