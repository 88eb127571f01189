// HubClient: skiffctl's gRPC client of the Hub service — TLS with the hub CA, the bearer token
// on every call, a deadline per unary call, and gRPC statuses turned into common::Status (so the
// CLI maps them to messages and exit codes in one place). Not thread-safe; one per command.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/status.h"
#include "skiff/v1/hub.grpc.pb.h"

namespace skiff::hub::ctl {

struct ClientOptions {
  std::string server = "127.0.0.1:7443";
  std::string caFile;  // "" = system roots
  std::string token;
  std::chrono::milliseconds timeout{30000};
};

common::Status fromGrpc(const grpc::Status& s, const std::string& server);

class HubClient {
 public:
  static common::Result<std::unique_ptr<HubClient>> connect(const ClientOptions& o);

  // A context with the token and the unary deadline.
  std::unique_ptr<grpc::ClientContext> context(bool stream = false) const;
  v1::Hub::Stub& stub() { return *stub_; }
  const std::string& server() const { return opts_.server; }

  // Calls fn(stub, ctx) and converts the status.
  template <typename Fn>
  common::Status call(Fn&& fn) {
    auto ctx = context();
    return fromGrpc(fn(*stub_, ctx.get()), opts_.server);
  }

 private:
  ClientOptions opts_;
  std::unique_ptr<v1::Hub::Stub> stub_;
};

}  // namespace skiff::hub::ctl
