// Deployment controller: one ReplicaSet per pod template (named <deployment>-<pod-template-hash>),
// RollingUpdate within maxSurge/maxUnavailable or Recreate, revision annotations (so
// `kubectl rollout undo` finds old templates), revisionHistoryLimit clean-up, and status
// fields/conditions that make `kubectl rollout status` exit exactly when the rollout is done.
#pragma once

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

class DeploymentController final : public Controller {
 public:
  DeploymentController(Client& client, Informer& deployments, Informer& replicaSets);
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  Client& client_;
  Informer& deployments_;
  Informer& replicaSets_;
};

// The pod-template-hash of a template (FNV-32a of its canonical JSON, Kubernetes' alphabet).
std::string podTemplateHash(const Json& podTemplate);
// maxSurge / maxUnavailable ("25%" or 1) resolved against replicas, as Kubernetes rounds them.
std::pair<long long, long long> resolveSurgeUnavailable(const Json& rollingUpdate,
                                                        long long replicas);

}  // namespace skiff::control_plane::controllers
