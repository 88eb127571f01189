// Virtual node metric families.
#include "virtual_node/metrics.h"

namespace skiff::virtual_node {

VirtualNodeMetrics::VirtualNodeMetrics(std::shared_ptr<prometheus::Registry> r)
    : registry(r),
      podSyncs(prometheus::BuildCounter()
                   .Name("skiff_virtual_node_pod_syncs_total")
                   .Help("Pod reconciliations by result")
                   .Register(*r)),
      podSyncOk(podSyncs.Add({{"result", "ok"}})),
      podSyncError(podSyncs.Add({{"result", "error"}})),
      podStatusPatches(prometheus::BuildCounter()
                           .Name("skiff_virtual_node_pod_status_patches_total")
                           .Help("pods/status writes after provider status changes")
                           .Register(*r)
                           .Add({})),
      podDeletionsCompleted(prometheus::BuildCounter()
                                .Name("skiff_virtual_node_pod_deletions_completed_total")
                                .Help("Graceful pod deletions completed once the provider "
                                      "confirmed the containers gone")
                                .Register(*r)
                                .Add({})),
      orphansRemoved(prometheus::BuildCounter()
                         .Name("skiff_virtual_node_orphans_removed_total")
                         .Help("Provider pods removed because their pod no longer exists")
                         .Register(*r)
                         .Add({})),
      pods(prometheus::BuildGauge()
               .Name("skiff_virtual_node_pods")
               .Help("Pods bound to this virtual node's nodes")
               .Register(*r)
               .Add({})) {}

}  // namespace skiff::virtual_node
