// GrpcHubClient: HubClient over gRPC with TLS (the hub CA) and a bearer token in every call's
// "authorization" metadata. The only file of the edge provider that touches gRPC; exceptions and
// grpc::Status never escape it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "edge_provider/hub_client.h"

namespace skiff::edge_provider {

struct GrpcHubClientOptions {
  std::string address;     // host:port
  std::string caPem;       // trust anchor for the hub's certificate
  std::string token;       // admin token
  std::string serverName;  // certificate name override ("" = the address host)
  std::chrono::milliseconds callTimeout{10000};
};

class GrpcHubClient final : public HubClient {
 public:
  // InvalidArgument for unusable options; never connects eagerly (the channel connects lazily and
  // reconnects by itself).
  static common::Result<std::unique_ptr<GrpcHubClient>> create(GrpcHubClientOptions opts);
  ~GrpcHubClient() override;

  common::Result<hubpb::Deployment> applyDeployment(const hubpb::Deployment& d) override;
  common::Status deleteDeployment(const std::string& id) override;
  common::Result<hubpb::FleetStatus> getFleetStatus() override;
  common::Status watchDevices(
      const hubpb::WatchRequest& req, std::stop_token stop,
      const std::function<bool(const hubpb::DeviceEvent&)>& onEvent) override;
  common::Status watchDeployments(
      const hubpb::WatchRequest& req, std::stop_token stop,
      const std::function<bool(const hubpb::DeploymentEvent&)>& onEvent) override;
  common::Status streamLogs(const hubpb::LogsRequest& req,
                            const std::function<bool(std::string_view)>& write) override;

 private:
  struct Impl;
  explicit GrpcHubClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::edge_provider
