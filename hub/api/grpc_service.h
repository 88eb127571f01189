// The Hub gRPC service (proto/skiff/v1/hub.proto) over the fleet, enrollment and RPC relay.
// Every call authenticates its `authorization: Bearer <token>` metadata; writes need the admin
// role. Status codes map as documented in hub.proto. Watch streams send a snapshot (ADDED per
// match), SYNCED, then changes (10 batches at once, then at most one per `watchInterval`; a
// batch under 64 KiB counts a fifth), until the client cancels or the server stops. Runs on gRPC's
// sync-server threads; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "hub/auth.h"
#include "hub/enrollment.h"
#include "hub/fleet/fleet.h"
#include "hub/mqtt/rpc_client.h"
#include "skiff/v1/hub.grpc.pb.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::api {

struct GrpcServiceOptions {
  std::chrono::milliseconds rpcTimeout{10000};
  std::chrono::milliseconds restartTimeout{60000};
  std::chrono::milliseconds watchInterval{100};
  std::shared_ptr<prometheus::Registry> metrics;
};

class HubService final : public v1::Hub::Service {
 public:
  HubService(fleet::Fleet& fleet, Enrollment& enrollment, mqtt::RpcClient& rpc,
             const TokenAuthenticator& tokens, GrpcServiceOptions opts);
  ~HubService() override;
  // Ends every open stream (server shutdown).
  void shutdown() { stopping_ = true; }

  grpc::Status CreateDevice(grpc::ServerContext* ctx, const v1::CreateDeviceRequest* req,
                            v1::Device* resp) override;
  grpc::Status GetDevice(grpc::ServerContext* ctx, const v1::GetDeviceRequest* req,
                         v1::Device* resp) override;
  grpc::Status ListDevices(grpc::ServerContext* ctx, const v1::ListDevicesRequest* req,
                           v1::ListDevicesResponse* resp) override;
  grpc::Status UpdateDeviceLabels(grpc::ServerContext* ctx,
                                  const v1::UpdateDeviceLabelsRequest* req,
                                  v1::Device* resp) override;
  grpc::Status DeleteDevice(grpc::ServerContext* ctx, const v1::DeleteDeviceRequest* req,
                            v1::DeleteResponse* resp) override;
  grpc::Status CreateEnrollmentToken(grpc::ServerContext* ctx,
                                     const v1::CreateEnrollmentTokenRequest* req,
                                     v1::EnrollmentToken* resp) override;
  grpc::Status ApplyDeployment(grpc::ServerContext* ctx, const v1::ApplyDeploymentRequest* req,
                               v1::Deployment* resp) override;
  grpc::Status GetDeployment(grpc::ServerContext* ctx, const v1::GetDeploymentRequest* req,
                             v1::Deployment* resp) override;
  grpc::Status ListDeployments(grpc::ServerContext* ctx, const v1::ListDeploymentsRequest* req,
                               v1::ListDeploymentsResponse* resp) override;
  grpc::Status DeleteDeployment(grpc::ServerContext* ctx, const v1::DeleteDeploymentRequest* req,
                                v1::DeleteResponse* resp) override;
  grpc::Status GetFleetStatus(grpc::ServerContext* ctx, const v1::GetFleetStatusRequest* req,
                              v1::FleetStatus* resp) override;
  grpc::Status WatchDevices(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                            grpc::ServerWriter<v1::DeviceEvent>* writer) override;
  grpc::Status WatchDeployments(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                                grpc::ServerWriter<v1::DeploymentEvent>* writer) override;
  grpc::Status StreamLogs(grpc::ServerContext* ctx, const v1::LogsRequest* req,
                          grpc::ServerWriter<v1::LogChunk>* writer) override;
  grpc::Status RestartModule(grpc::ServerContext* ctx, const v1::RestartModuleRequest* req,
                             v1::RestartModuleResponse* resp) override;

 private:
  struct Metrics;
  // Authenticates (and for writes authorizes) the call; counts it under `method`.
  common::Result<Principal> auth(grpc::ServerContext* ctx, const char* method, bool write);
  grpc::Status done(const char* method, const common::Status& s);

  fleet::Fleet& fleet_;
  Enrollment& enrollment_;
  mqtt::RpcClient& rpc_;
  const TokenAuthenticator& tokens_;
  GrpcServiceOptions opts_;
  std::unique_ptr<Metrics> metrics_;
  std::atomic<bool> stopping_{false};
};

}  // namespace skiff::hub::api
