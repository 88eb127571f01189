// HubClient: the part of the hub's gRPC API (proto/skiff/v1/hub.proto) the edge provider uses, as
// a small seam so tests can substitute an in-process fake hub or a gmock mock. Messages are the
// generated protobuf types, so the contract is exactly hub.proto's.
//
// Contract: thread-safe; every method blocks on the network. Unary calls have a deadline.
// gRPC codes map to Status codes (UNAVAILABLE → Unavailable, NOT_FOUND → NotFound,
// INVALID_ARGUMENT → InvalidArgument, FAILED_PRECONDITION → Conflict, UNAUTHENTICATED,
// PERMISSION_DENIED, DEADLINE_EXCEEDED, ...), messages prefixed with the method.
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::edge_provider {

namespace hubpb = ::skiff::v1;

class HubClient {
 public:
  virtual ~HubClient() = default;
  // Creates or replaces a deployment by id (idempotent: an identical spec keeps the generation).
  virtual common::Result<hubpb::Deployment> applyDeployment(const hubpb::Deployment& d) = 0;
  // NotFound when absent.
  virtual common::Status deleteDeployment(const std::string& id) = 0;
  virtual common::Result<hubpb::FleetStatus> getFleetStatus() = 0;
  // Streams: onEvent gets every event (snapshot ADDED…, SYNCED, then changes) until it returns
  // false, stop is requested (both: Ok) or the stream fails (the error).
  virtual common::Status watchDevices(
      const hubpb::WatchRequest& req, std::stop_token stop,
      const std::function<bool(const hubpb::DeviceEvent&)>& onEvent) = 0;
  virtual common::Status watchDeployments(
      const hubpb::WatchRequest& req, std::stop_token stop,
      const std::function<bool(const hubpb::DeploymentEvent&)>& onEvent) = 0;
  // Streams a module's log; write returns false to stop (Ok). Errors before data: NotFound,
  // Unavailable (device offline), ...
  virtual common::Status streamLogs(const hubpb::LogsRequest& req,
                                    const std::function<bool(std::string_view)>& write) = 0;
};

}  // namespace skiff::edge_provider
