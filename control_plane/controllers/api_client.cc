// ApiClient: synthetic requests into ApiServer::handle, responses captured in memory.
#include "control_plane/controllers/api_client.h"
#include "common/kube/objects.h"

namespace skiff::control_plane::controllers {

namespace {

class CaptureWriter final : public common::http::ResponseWriter {
 public:
  void send(int status, std::string_view, std::string_view body,
            const std::map<std::string, std::string>&) override {
    code_ = status;
    body_ = std::string(body);
    responded_ = true;
  }
  void startStream(int status, std::string_view,
                   const std::map<std::string, std::string>&) override {
    code_ = status;
    responded_ = true;
  }
  bool writeChunk(std::string_view data) override {
    body_ += data;
    return true;
  }
  bool cancelled() const override { return false; }
  bool responded() const override { return responded_; }
  int code() const { return code_; }
  const std::string& body() const { return body_; }

 private:
  int code_ = 0;
  std::string body_;
  bool responded_ = false;
};

}  // namespace

std::string resourcePath(const apiserver::ResourceInfo& r, const std::string& ns,
                         const std::string& name, const std::string& subresource) {
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + r.resource;
  if (!name.empty()) p += "/" + name;
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

ApiClient::ApiClient(apiserver::ApiServer& api, std::string user, std::vector<std::string> groups)
    : api_(api), user_(std::move(user)), groups_(std::move(groups)) {}

std::pair<int, Json> ApiClient::call(const std::string& method, const std::string& path,
                                     const std::string& body, const std::string& contentType) {
  if (method != "GET" && writeGate_ && !writeGate_()) {
    return {503, Json{{"kind", "Status"},
                      {"status", "Failure"},
                      {"reason", "ServiceUnavailable"},
                      {"message", "not the leader: writes from " + user_ + " are fenced"},
                      {"code", 503}}};
  }
  common::http::Request req;
  req.method = method;
  req.target = path;
  auto q = path.find('?');
  req.path = path.substr(0, q);
  if (q != std::string::npos) req.query = common::http::parseQuery(path.substr(q + 1));
  req.body = body;
  if (!contentType.empty()) req.headers["content-type"] = contentType;
  req.headers["accept"] = "application/json";
  req.clientCommonName = user_;
  req.clientOrganizations = groups_;
  req.remoteAddress = "in-process";
  CaptureWriter w;
  api_.handle(req, w);
  auto parsed = common::parseJson(w.body(), SIZE_MAX);
  return {w.code(), parsed.isOk() ? std::move(*parsed) : Json()};
}

Result<Json> ApiClient::toResult(std::pair<int, Json> res) {
  auto& [code, body] = res;
  if (code >= 200 && code < 300) return std::move(body);
  std::string msg = common::jsonString(body, "message");
  std::string reason = common::jsonString(body, "reason");
  if (msg.empty()) msg = "HTTP " + std::to_string(code);
  switch (code) {
    case 404:
      return common::notFound(msg);
    case 409:
      return reason == "AlreadyExists" ? common::alreadyExists(msg) : common::conflict(msg);
    case 400:
    case 422:
      return common::invalidArgument(msg);
    case 401:
      return common::unauthenticated(msg);
    case 403:
      return common::permissionDenied(msg);
    case 410:
      return common::gone(msg);
    case 503:
      return common::unavailable(msg);
    default:
      return common::internalError(msg);
  }
}

Result<Json> ApiClient::get(const apiserver::ResourceInfo& r, const std::string& ns,
                            const std::string& name) {
  return toResult(call("GET", resourcePath(r, ns, name), "", ""));
}

Result<Json> ApiClient::list(const apiserver::ResourceInfo& r, const std::string& ns) {
  return toResult(call("GET", resourcePath(r, ns), "", ""));
}

Result<Json> ApiClient::create(const apiserver::ResourceInfo& r, const std::string& ns,
                               const Json& obj) {
  return toResult(call("POST", resourcePath(r, ns), common::dumpJson(obj), "application/json"));
}

Result<Json> ApiClient::update(const apiserver::ResourceInfo& r, const Json& obj,
                               const std::string& subresource) {
  std::string ns = kube::ObjectView(obj).ns();
  std::string name = kube::ObjectView(obj).name();
  return toResult(call("PUT", resourcePath(r, ns, name, subresource), common::dumpJson(obj),
                       "application/json"));
}

Result<Json> ApiClient::patch(const apiserver::ResourceInfo& r, const std::string& ns,
                              const std::string& name, const Json& patch,
                              const std::string& contentType, const std::string& subresource) {
  return toResult(
      call("PATCH", resourcePath(r, ns, name, subresource), common::dumpJson(patch), contentType));
}

Result<Json> ApiClient::remove(const apiserver::ResourceInfo& r, const std::string& ns,
                               const std::string& name, const Json& deleteOptions) {
  return toResult(call("DELETE", resourcePath(r, ns, name), common::dumpJson(deleteOptions),
                       "application/json"));
}

Result<Json> ApiClient::removeCollection(const apiserver::ResourceInfo& r, const std::string& ns,
                                         const Json& deleteOptions) {
  return toResult(
      call("DELETE", resourcePath(r, ns), common::dumpJson(deleteOptions), "application/json"));
}

common::Status ApiClient::bind(const std::string& ns, const std::string& pod,
                               const std::string& node) {
  Json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", pod}, {"namespace", ns}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  auto r = toResult(call("POST", "/api/v1/namespaces/" + ns + "/pods/" + pod + "/binding",
                         common::dumpJson(binding), "application/json"));
  return r.isOk() ? common::Status::ok() : r.status();
}

}  // namespace skiff::control_plane::controllers
