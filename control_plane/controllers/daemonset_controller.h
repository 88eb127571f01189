// DaemonSet controller: one pod per node that matches the template's node selector/affinity and
// whose NoSchedule/NoExecute taints the template tolerates; follows node label, taint and
// membership changes; rolling update replaces outdated pods maxUnavailable at a time. Pods are
// pinned with required node affinity on metadata.name and bound by the scheduler, as in
// Kubernetes.
#pragma once

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

class DaemonSetController final : public Controller {
 public:
  DaemonSetController(Client& client, Informer& daemonSets, Informer& nodes, Informer& pods);
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  Client& client_;
  Informer& daemonSets_;
  Informer& nodes_;
  Informer& pods_;
};

}  // namespace skiff::control_plane::controllers
