// gRPC channel, credentials and status mapping for skiffctl.
#include "hub/ctl/client.h"

#include "common/fs.h"

namespace skiff::hub::ctl {

common::Status fromGrpc(const grpc::Status& s, const std::string& server) {
  using G = grpc::StatusCode;
  switch (s.error_code()) {
    case G::OK:
      return common::Status::ok();
    case G::NOT_FOUND:
      return common::notFound(s.error_message());
    case G::ALREADY_EXISTS:
      return common::alreadyExists(s.error_message());
    case G::INVALID_ARGUMENT:
    case G::OUT_OF_RANGE:
      return common::invalidArgument(s.error_message());
    case G::FAILED_PRECONDITION:
    case G::ABORTED:
      return common::conflict(s.error_message());
    case G::UNAUTHENTICATED:
      return common::unauthenticated(s.error_message());
    case G::PERMISSION_DENIED:
      return common::permissionDenied(s.error_message());
    case G::DEADLINE_EXCEEDED:
      return common::deadlineExceeded("no answer from the hub at " + server + " in time");
    case G::RESOURCE_EXHAUSTED:
      return common::resourceExhausted(s.error_message());
    case G::UNAVAILABLE:
      // Transport errors carry gRPC's own text; name the server.
      return common::unavailable(s.error_message().find("device") != std::string::npos
                                     ? s.error_message()
                                     : "cannot reach the hub at " + server + ": " +
                                           s.error_message());
    default:
      return common::internalError(s.error_message());
  }
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
