// gmock mock of the edge provider's HubClient seam (edge_provider/hub_client.h).
#pragma once

#include <gmock/gmock.h>

#include "edge_provider/hub_client.h"

namespace skiff::test {

namespace hubpb = ::skiff::v1;

class MockHubClient : public edge_provider::HubClient {
 public:
  MOCK_METHOD(common::Result<hubpb::Deployment>, applyDeployment, (const hubpb::Deployment& d),
              (override));
  MOCK_METHOD(common::Status, deleteDeployment, (const std::string& id), (override));
  MOCK_METHOD(common::Result<hubpb::FleetStatus>, getFleetStatus, (), (override));
  MOCK_METHOD(common::Status, watchDevices,
              (const hubpb::WatchRequest& req, std::stop_token stop,
               const std::function<bool(const hubpb::DeviceEvent&)>& onEvent),
              (override));
  MOCK_METHOD(common::Status, watchDeployments,
              (const hubpb::WatchRequest& req, std::stop_token stop,
               const std::function<bool(const hubpb::DeploymentEvent&)>& onEvent),
              (override));
  MOCK_METHOD(common::Status, streamLogs,
              (const hubpb::LogsRequest& req, const std::function<bool(std::string_view)>& write),
              (override));
};

}  // namespace skiff::test
