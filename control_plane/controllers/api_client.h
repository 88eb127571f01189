// The in-process Client (client.h) of the scheduler and controllers: every call goes through
// ApiServer::handle exactly as an HTTPS request would (defaulting, validation, graceful
// deletion, finalizers, authorization as the given identity) but without sockets or TLS.
// Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/json.h"
#include "common/status.h"
#include "control_plane/apiserver/api_server.h"
#include "control_plane/controllers/client.h"

namespace skiff::control_plane::controllers {

using common::Json;
using common::Result;

class ApiClient final : public Client {
 public:
  ApiClient(apiserver::ApiServer& api, std::string user, std::vector<std::string> groups);

  Result<Json> get(const apiserver::ResourceInfo& r, const std::string& ns,
                   const std::string& name) override;
  Result<Json> list(const apiserver::ResourceInfo& r, const std::string& ns) override;
  Result<Json> create(const apiserver::ResourceInfo& r, const std::string& ns,
                      const Json& obj) override;
  Result<Json> update(const apiserver::ResourceInfo& r, const Json& obj,
                      const std::string& subresource) override;
  Result<Json> patch(const apiserver::ResourceInfo& r, const std::string& ns,
                     const std::string& name, const Json& patch, const std::string& contentType,
                     const std::string& subresource) override;
  Result<Json> remove(const apiserver::ResourceInfo& r, const std::string& ns,
                      const std::string& name, const Json& deleteOptions) override;
  Result<Json> removeCollection(const apiserver::ResourceInfo& r, const std::string& ns,
                                const Json& deleteOptions) override;
  common::Status bind(const std::string& ns, const std::string& pod,
                      const std::string& node) override;
  using Client::patch;
  using Client::remove;
  using Client::update;

  // Fencing for leader election: while the gate answers false every write (anything but GET)
  // fails with 503 "not the leader" instead of reaching the API server. Set before use.
  void setWriteGate(std::function<bool()> gate) { writeGate_ = std::move(gate); }

  // Raw call: method, path ("/api/v1/..."), body, content type. Returns (code, body).
  std::pair<int, Json> call(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& contentType);

 private:
  Result<Json> toResult(std::pair<int, Json> res);
  apiserver::ApiServer& api_;
  std::string user_;
  std::vector<std::string> groups_;
  std::function<bool()> writeGate_;
};

// Path of a resource collection or object: "/apis/apps/v1/namespaces/ns/deployments/name".
std::string resourcePath(const apiserver::ResourceInfo& r, const std::string& ns,
                         const std::string& name = "", const std::string& subresource = "");

}  // namespace skiff::control_plane::controllers
