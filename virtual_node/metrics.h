// Prometheus metrics of the virtual node (served on the kubelet endpoint's /metrics).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>

namespace skiff::virtual_node {

struct VirtualNodeMetrics {
  explicit VirtualNodeMetrics(std::shared_ptr<prometheus::Registry> r);

  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>& podSyncs;  // {result="ok"|"error"}
  prometheus::Counter& podSyncOk;
  prometheus::Counter& podSyncError;
  prometheus::Counter& podStatusPatches;
  prometheus::Counter& podDeletionsCompleted;
  prometheus::Counter& orphansRemoved;
  prometheus::Gauge& pods;  // pods bound to this virtual node's nodes
};

}  // namespace skiff::virtual_node
