// HubClient over gRPC.
#include "edge_provider/grpc_hub_client.h"

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "common/grpc/grpc_status.h"
#include "common/net.h"
#include "skiff/v1/hub.grpc.pb.h"

namespace skiff::edge_provider {

using common::Result;
using common::Status;

namespace {

Status fromGrpc(std::string_view method, const grpc::Status& s) {
  return common::grpc_status::fromGrpc(s, "hub " + std::string(method) + ": " + s.error_message());
}

}  // namespace

struct GrpcHubClient::Impl {
  GrpcHubClientOptions opts;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<hubpb::Hub::Stub> stub;

  void prepare(grpc::ClientContext& ctx, bool deadline) const {
    ctx.AddMetadata("authorization", "Bearer " + opts.token);
    if (deadline) ctx.set_deadline(std::chrono::system_clock::now() + opts.callTimeout);
  }

  // Runs a server stream, cancelling it when stop is requested or onMessage returns false.
  template <typename Req, typename Msg, typename StartFn>
  Status stream(std::string_view method, const Req& req, std::stop_token stop, StartFn start,
                const std::function<bool(const Msg&)>& onMessage) {
    grpc::ClientContext ctx;
    prepare(ctx, false);
    std::stop_callback cancel(stop, [&ctx] { ctx.TryCancel(); });
    auto reader = start(&ctx, req);
    Msg msg;
    bool stoppedByHandler = false;
    while (reader->Read(&msg)) {
      if (!onMessage(msg)) {
        stoppedByHandler = true;
        ctx.TryCancel();
        break;
      }
    }
    grpc::Status s = reader->Finish();
    if (stoppedByHandler || stop.stop_requested()) return Status::ok();
    if (s.ok()) return common::unavailable("hub " + std::string(method) + ": stream ended");
    return fromGrpc(method, s);
  }
};

GrpcHubClient::GrpcHubClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcHubClient::~GrpcHubClient() = default;

Result<std::unique_ptr<GrpcHubClient>> GrpcHubClient::create(GrpcHubClientOptions opts) {
  SKIFF_ASSIGN_OR_RETURN(auto hp, common::parseHostPort(opts.address));
  if (opts.caPem.empty()) return common::invalidArgument("hub CA certificate is empty");
  if (opts.token.empty()) return common::invalidArgument("hub token is empty");
  auto impl = std::make_unique<Impl>();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = opts.caPem;
  grpc::ChannelArguments args;
  if (!opts.serverName.empty()) args.SetSslTargetNameOverride(opts.serverName);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10000);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 * 1024 * 1024);
  impl->channel = grpc::CreateCustomChannel(hp.toString(), grpc::SslCredentials(ssl), args);
  impl->stub = hubpb::Hub::NewStub(impl->channel);
  impl->opts = std::move(opts);
  return std::unique_ptr<GrpcHubClient>(new GrpcHubClient(std::move(impl)));
}

Result<hubpb::Deployment> GrpcHubClient::applyDeployment(const hubpb::Deployment& d) {
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  hubpb::ApplyDeploymentRequest req;
  *req.mutable_deployment() = d;
  hubpb::Deployment out;
  SKIFF_RETURN_IF_ERROR(fromGrpc("ApplyDeployment", impl_->stub->ApplyDeployment(&ctx, req, &out)));
  return out;
}

Status GrpcHubClient::deleteDeployment(const std::string& id) {
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  hubpb::DeleteDeploymentRequest req;
  req.set_id(id);
  hubpb::DeleteResponse out;
  return fromGrpc("DeleteDeployment", impl_->stub->DeleteDeployment(&ctx, req, &out));
}

Result<hubpb::FleetStatus> GrpcHubClient::getFleetStatus() {
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  hubpb::GetFleetStatusRequest req;
  hubpb::FleetStatus out;
  SKIFF_RETURN_IF_ERROR(fromGrpc("GetFleetStatus", impl_->stub->GetFleetStatus(&ctx, req, &out)));
  return out;
}

Status GrpcHubClient::watchDevices(const hubpb::WatchRequest& req, std::stop_token stop,
                                   const std::function<bool(const hubpb::DeviceEvent&)>& onEvent) {
  auto* stub = impl_->stub.get();
  return impl_->stream<hubpb::WatchRequest, hubpb::DeviceEvent>(
      "WatchDevices", req, stop,
      [stub](grpc::ClientContext* ctx, const hubpb::WatchRequest& r) {
        return stub->WatchDevices(ctx, r);
      },
      onEvent);
}

Status GrpcHubClient::watchDeployments(
    const hubpb::WatchRequest& req, std::stop_token stop,
    const std::function<bool(const hubpb::DeploymentEvent&)>& onEvent) {
  auto* stub = impl_->stub.get();
  return impl_->stream<hubpb::WatchRequest, hubpb::DeploymentEvent>(
      "WatchDeployments", req, stop,
      [stub](grpc::ClientContext* ctx, const hubpb::WatchRequest& r) {
        return stub->WatchDeployments(ctx, r);
      },
      onEvent);
}

Status GrpcHubClient::streamLogs(const hubpb::LogsRequest& req,
                                 const std::function<bool(std::string_view)>& write) {
  grpc::ClientContext ctx;
  impl_->prepare(ctx, false);
  auto reader = impl_->stub->StreamLogs(&ctx, req);
  hubpb::LogChunk chunk;
  while (reader->Read(&chunk)) {
    if (!write(chunk.data())) {
      ctx.TryCancel();
      (void)reader->Finish();
      return Status::ok();
    }
  }
  return fromGrpc("StreamLogs", reader->Finish());
}

}  // namespace skiff::edge_provider
