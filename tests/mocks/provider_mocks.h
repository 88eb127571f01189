// gmock mocks of the virtual node's provider seam (virtual_node/provider.h).
#pragma once

#include <gmock/gmock.h>

#include "virtual_node/provider.h"

namespace skiff::test {

using common::Json;

class MockPodLifecycleHandler : public virtual_node::PodLifecycleHandler {
 public:
  MOCK_METHOD(common::Status, createPod, (const Json& pod), (override));
  MOCK_METHOD(common::Status, updatePod, (const Json& pod), (override));
  MOCK_METHOD(common::Status, deletePod, (const Json& pod), (override));
  MOCK_METHOD(common::Result<Json>, getPod, (const std::string& ns, const std::string& name),
              (override));
  MOCK_METHOD(common::Result<virtual_node::PodStatusReport>, getPodStatus,
              (const std::string& ns, const std::string& name), (override));
  MOCK_METHOD(common::Result<std::vector<Json>>, getPods, (), (override));
};

class MockPodNotifier : public virtual_node::PodNotifier {
 public:
  MOCK_METHOD(void, notifyPods, (std::function<void(const std::string&, const std::string&)> cb),
              (override));
};

class MockNodeProvider : public virtual_node::NodeProvider {
 public:
  MOCK_METHOD(common::Result<std::vector<virtual_node::VirtualNodeSpec>>, nodes, (), (override));
  MOCK_METHOD(void, notifyNodes, (std::function<void()> cb), (override));
};

class MockContainerLogProvider : public virtual_node::ContainerLogProvider {
 public:
  MOCK_METHOD(common::Status, getContainerLogs,
              (const std::string& ns, const std::string& pod, const std::string& container,
               const virtual_node::LogOptions& opts,
               const std::function<bool(std::string_view)>& write),
              (override));
};

class MockEventRecorder : public virtual_node::EventRecorder {
 public:
  MOCK_METHOD(void, event,
              (const Json& obj, std::string_view type, std::string_view reason,
               std::string_view message),
              (override));
};

class MockObjectReader : public virtual_node::ObjectReader {
 public:
  MOCK_METHOD(common::Result<Json>, getConfigMap, (const std::string& ns, const std::string& name),
              (override));
  MOCK_METHOD(common::Result<Json>, getSecret, (const std::string& ns, const std::string& name),
              (override));
};

}  // namespace skiff::test
