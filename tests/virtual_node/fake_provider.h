// FakeProvider: an in-memory provider for the virtual node's tests. Pods "run" as soon as they
// are created (status Running, every container running and ready) unless told otherwise; deleted
// pods stay until the test completes their removal (or at once with autoCompleteRemoval); nodes
// and logs are whatever the test sets. Every call is counted. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "virtual_node/provider.h"

namespace skiff::test {

using common::Json;

class FakeProvider final : public virtual_node::PodLifecycleHandler,
                           public virtual_node::PodNotifier,
                           public virtual_node::NodeProvider,
                           public virtual_node::ContainerLogProvider {
 public:
  common::Status createPod(const Json& pod) override;
  common::Status updatePod(const Json& pod) override;
  common::Status deletePod(const Json& pod) override;
  common::Result<Json> getPod(const std::string& ns, const std::string& name) override;
  common::Result<virtual_node::PodStatusReport> getPodStatus(const std::string& ns,
                                                             const std::string& name) override;
  common::Result<std::vector<Json>> getPods() override;
  void notifyPods(std::function<void(const std::string&, const std::string&)> cb) override;
  common::Result<std::vector<virtual_node::VirtualNodeSpec>> nodes() override;
  void notifyNodes(std::function<void()> cb) override;
  common::Status getContainerLogs(const std::string& ns, const std::string& pod,
                                  const std::string& container,
                                  const virtual_node::LogOptions& opts,
                                  const std::function<bool(std::string_view)>& write) override;

  // ---- test control ----
  void setNodes(std::vector<virtual_node::VirtualNodeSpec> nodes);
  void setAutoCompleteRemoval(bool on);
  // Finishes the removal of a deleted pod and notifies.
  void completeRemoval(const std::string& ns, const std::string& name);
  // A pod the provider "still runs" (as after a restart), without the API knowing it.
  void adopt(const Json& pod);
  void setLog(const std::string& container, std::string text);
  std::vector<std::string> calls() const;  // "create ns/name", "update ns/name", ...
  int count(const std::string& prefix) const;
  std::optional<virtual_node::LogOptions> lastLogOptions() const;
  bool running(const std::string& ns, const std::string& name) const;

 private:
  void notify(const std::string& ns, const std::string& name);
  mutable std::mutex mu_;
  std::map<std::string, Json> pods_;      // running
  std::map<std::string, Json> removing_;  // deleted, containers not yet gone
  std::vector<virtual_node::VirtualNodeSpec> nodes_;
  bool nodesSet_ = false;
  bool autoComplete_ = false;
  std::map<std::string, std::string> logs_;
  std::optional<virtual_node::LogOptions> lastLogOptions_;
  std::vector<std::string> calls_;
  std::function<void(const std::string&, const std::string&)> podCb_;
  std::function<void()> nodesCb_;
};

// A NodeSpec as a provider would give it: labels, the provider taint, capacity, Ready.
virtual_node::VirtualNodeSpec testNodeSpec(const std::string& name,
                                           std::map<std::string, std::string> labels = {});

}  // namespace skiff::test
