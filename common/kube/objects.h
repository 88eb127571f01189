// Typed read-only views of the Kubernetes objects the controllers and the edge provider read most
// (Pod, Node, Deployment, ReplicaSet, DaemonSet, Service). Objects stay JSON — what the API
// server stores, patches and serves, unknown fields and all — and a view names its fields, so a
// misspelt field is a compile error instead of a silent default. A view borrows the object: it
// must not outlive it.
//
// Every accessor tolerates a missing field or one of the wrong JSON type (the API server
// validates writes, but informers also see objects of newer API versions): it answers the
// field's Kubernetes default ("" / 0 / empty / the documented default, e.g. replicas 1).
// Accessors returning `const Json&` give the sub-document (a null Json when absent) for code
// that copies it whole (pod templates, label maps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/label_selector.h"

namespace skiff::kube {

using common::Json;

// metadata.ownerReferences[] entry.
struct OwnerRef {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool blockOwnerDeletion = false;
};

// The parts every object has (metadata).
class ObjectView {
 public:
  explicit ObjectView(const Json& obj) : obj_(&obj) {}

  const Json& json() const { return *obj_; }
  std::string apiVersion() const { return str(*obj_, "apiVersion"); }
  std::string kind() const { return str(*obj_, "kind"); }
  std::string name() const { return str(meta(), "name"); }
  std::string ns() const { return str(meta(), "namespace"); }
  std::string uid() const { return str(meta(), "uid"); }
  std::string resourceVersion() const { return str(meta(), "resourceVersion"); }
  std::string creationTimestamp() const { return str(meta(), "creationTimestamp"); }
  std::string deletionTimestamp() const { return str(meta(), "deletionTimestamp"); }
  bool deleting() const { return !deletionTimestamp().empty(); }
  // metadata.generation (1 for an object that never had one: its first generation).
  std::int64_t generation() const { return integer(meta(), "generation", 1); }
  const Json& labels() const { return common::jsonField(meta(), "labels"); }
  const Json& annotations() const { return common::jsonField(meta(), "annotations"); }
  common::Labels labelMap() const;  // labels with string values
  std::string annotation(const std::string& key) const { return str(annotations(), key); }
  std::vector<OwnerRef> ownerRefs() const;
  // The ownerReference with controller: true, if any.
  std::optional<OwnerRef> controllerRef() const;
  // A reference to this object, for the ownerReferences of what it creates.
  Json ownerRefJson(bool controller = true) const;
  // The status of status.conditions[type] ("True", "False", "Unknown" — also for a condition
  // without one; "" when the condition is not reported).
  std::string conditionStatus(const std::string& type) const;

 protected:
  const Json& meta() const { return common::jsonField(*obj_, "metadata"); }
  const Json& spec() const { return common::jsonField(*obj_, "spec"); }
  const Json& status() const { return common::jsonField(*obj_, "status"); }
  static std::string str(const Json& obj, const std::string& key);
  static std::int64_t integer(const Json& obj, const std::string& key, std::int64_t dflt);
  static bool boolean(const Json& obj, const std::string& key);

 private:
  const Json* obj_;
};

class PodView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  std::string nodeName() const { return str(spec(), "nodeName"); }
  std::string schedulerName() const { return str(spec(), "schedulerName"); }
  std::string restartPolicy() const;  // default "Always"
  const Json& containers() const { return common::jsonField(spec(), "containers"); }
  const Json& initContainers() const { return common::jsonField(spec(), "initContainers"); }
  const Json& tolerations() const { return common::jsonField(spec(), "tolerations"); }
  const Json& nodeSelector() const { return common::jsonField(spec(), "nodeSelector"); }
  const Json& affinity() const { return common::jsonField(spec(), "affinity"); }
  const Json& topologySpreadConstraints() const {
    return common::jsonField(spec(), "topologySpreadConstraints");
  }
  std::int64_t priority() const { return integer(spec(), "priority", 0); }
  std::string phase() const { return str(status(), "phase"); }
  std::string podIP() const { return str(status(), "podIP"); }
  bool terminal() const { return phase() == "Succeeded" || phase() == "Failed"; }
  bool active() const { return !terminal() && !deleting(); }
  bool ready() const { return conditionStatus("Ready") == "True"; }
};

class NodeView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  bool unschedulable() const { return boolean(spec(), "unschedulable"); }
  const Json& taints() const { return common::jsonField(spec(), "taints"); }
  const Json& allocatable() const { return common::jsonField(status(), "allocatable"); }
  const Json& capacity() const { return common::jsonField(status(), "capacity"); }
  const Json& conditions() const { return common::jsonField(status(), "conditions"); }
};

// What Deployment, ReplicaSet and DaemonSet share: a selector and a pod template.
class WorkloadView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  const Json& selector() const { return common::jsonField(spec(), "selector"); }
  const Json& podTemplate() const { return common::jsonField(spec(), "template"); }
  std::int64_t minReadySeconds() const { return integer(spec(), "minReadySeconds", 0); }
  std::int64_t observedGeneration() const { return integer(status(), "observedGeneration", 0); }
};

class ReplicaSetView : public WorkloadView {
 public:
  using WorkloadView::WorkloadView;
  std::int64_t replicas() const { return integer(spec(), "replicas", 1); }
  std::int64_t statusReplicas() const { return integer(status(), "replicas", 0); }
  std::int64_t readyReplicas() const { return integer(status(), "readyReplicas", 0); }
  std::int64_t availableReplicas() const { return integer(status(), "availableReplicas", 0); }
};

class DeploymentView : public WorkloadView {
 public:
  using WorkloadView::WorkloadView;
  std::int64_t replicas() const { return integer(spec(), "replicas", 1); }
  bool paused() const { return boolean(spec(), "paused"); }
  std::string strategyType() const;  // default "RollingUpdate"
  // spec.strategy.rollingUpdate, and its maxSurge / maxUnavailable (int or percent string;
  // null: unset).
  const Json& rollingUpdate() const;
  const Json& maxSurge() const { return common::jsonField(rollingUpdate(), "maxSurge"); }
  const Json& maxUnavailable() const {
    return common::jsonField(rollingUpdate(), "maxUnavailable");
  }
  std::int64_t revisionHistoryLimit() const { return integer(spec(), "revisionHistoryLimit", 10); }
  std::int64_t progressDeadlineSeconds() const {
    return integer(spec(), "progressDeadlineSeconds", 600);
  }
};

class DaemonSetView : public WorkloadView {
 public:
  using WorkloadView::WorkloadView;
  std::string updateStrategyType() const;  // default "RollingUpdate"
  const Json& rollingUpdate() const;       // spec.updateStrategy.rollingUpdate
  const Json& maxUnavailable() const {
    return common::jsonField(rollingUpdate(), "maxUnavailable");
  }
};

class ServiceView : public ObjectView {
 public:
  using ObjectView::ObjectView;
  std::string type() const;  // default "ClusterIP"
  std::string clusterIP() const { return str(spec(), "clusterIP"); }
  const Json& selector() const { return common::jsonField(spec(), "selector"); }
  const Json& ports() const { return common::jsonField(spec(), "ports"); }
};

}  // namespace skiff::kube
