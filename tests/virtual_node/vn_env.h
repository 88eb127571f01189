// One environment for the virtual node's integration tests: a temp dir, the real
// skiff-control-plane (scheduler and controllers on), the in-process FakeHub (test double of
// hub.proto), the real skiff-virtual-node binary and the real kubectl with a private HOME.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/control_plane/fake_kubelet.h"
#include "tests/edge_provider/fake_hub.h"
#include "tests/virtual_node/virtual_node_process.h"

namespace skiff::test {

class VnEnv {
 public:
  // Starts the control plane and the fake hub (no virtual node yet).
  common::Status setUp(const std::string& prefix);
  // Starts the virtual node; waits until its Node(s) exist.
  common::Status startVirtualNode(bool deviceMode, std::vector<std::string> extraArgs = {},
                                  const std::string& nodeName = "skiff-fleet");

  // Writes a manifest into the temp dir and returns its path.
  std::string manifest(const std::string& name, const std::string& yaml) const;
  // `kubectl get <args> -o json` parsed (an error Result when kubectl fails).
  common::Result<common::Json> getJson(const std::vector<std::string>& args);
  // Rows of `kubectl get pods` (NAME, READY, STATUS, RESTARTS, ...) in a namespace.
  std::vector<std::map<std::string, std::string>> podRows(const std::string& ns = "default");
  // The pods (JSON) in a namespace whose name starts with prefix.
  std::vector<common::Json> pods(const std::string& prefix, const std::string& ns = "default");
  // Diagnostics for failure messages: logs of the virtual node and kubectl get pods -o wide.
  std::string diagnostics();

  TempDir* dir() { return &*dir_; }
  ControlPlaneProcess& cp() { return *cp_; }
  FakeHub& hub() { return *hub_; }
  VirtualNodeProcess& vn() { return *vn_; }
  Kubectl& kubectl() { return *kubectl_; }

 private:
  std::optional<TempDir> dir_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::unique_ptr<FakeHub> hub_;
  std::unique_ptr<VirtualNodeProcess> vn_;
  std::optional<Kubectl> kubectl_;
};

}  // namespace skiff::test
