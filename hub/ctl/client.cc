// gRPC channel, credentials and status mapping for skiffctl.
#include "hub/ctl/client.h"

#include "common/fs.h"
#include "common/grpc/grpc_status.h"

namespace skiff::hub::ctl {

common::Status fromGrpc(const grpc::Status& s, const std::string& server) {
  std::string message = s.error_message();
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    message = "no answer from the hub at " + server + " in time";
  } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
             message.find("device") == std::string::npos) {
    // Transport errors carry gRPC's own text; name the server.
    message = "cannot reach the hub at " + server + ": " + message;
  }
  return common::grpc_status::fromGrpc(s, std::move(message));
}

common::Result<std::unique_ptr<HubClient>> HubClient::connect(const ClientOptions& o) {
  if (o.server.empty()) return common::invalidArgument("--server is empty");
  grpc::SslCredentialsOptions ssl;
  if (!o.caFile.empty()) {
    auto ca = common::readFile(o.caFile);
    if (!ca.isOk()) return ca.status().withContext("--ca");
    ssl.pem_root_certs = *ca;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 * 1024 * 1024);
  auto client = std::unique_ptr<HubClient>(new HubClient);
  client->opts_ = o;
  client->stub_ =
      v1::Hub::NewStub(grpc::CreateCustomChannel(o.server, grpc::SslCredentials(ssl), args));
  return client;
}

std::unique_ptr<grpc::ClientContext> HubClient::context(bool stream) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!opts_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + opts_.token);
  if (!stream) ctx->set_deadline(std::chrono::system_clock::now() + opts_.timeout);
  return ctx;
}

}  // namespace skiff::hub::ctl
