// REST, SSE, enrollment and dashboard routing.
#include "hub/api/rest_api.h"

#include <charconv>
#include <set>

#include "common/log.h"
#include "hub/api/json_view.h"
#include "hub/api/module_rpc.h"

namespace skiff::hub::api {

using common::Json;
using common::Result;
using common::Status;
namespace http = common::http;

namespace {

constexpr std::string_view kJson = "application/json";

void sendJson(http::ResponseWriter& w, int code, const Json& body) {
  w.send(code, kJson, common::dumpJson(body), {{"Cache-Control", "no-store"}});
}

void sendError(http::ResponseWriter& w, const Status& s) {
  sendJson(w, httpStatusOf(s), errorJson(s));
}

Result<Json> jsonBody(const http::Request& req, std::size_t limit) {
  if (req.body.empty()) return common::invalidArgument("request body: expected a JSON object");
  auto j = common::parseJson(req.body, limit);
  if (!j.isOk()) return j.status().withContext("request body");
  if (!j->is_object()) return common::invalidArgument("request body: expected a JSON object");
  return j;
}

Status onlyKeys(const Json& j, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : j.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) return common::invalidArgument(k + ": unknown field");
  }
  return Status::ok();
}

Result<std::string> stringField(const Json& j, const char* key) {
  if (!j.contains(key)) return std::string();
  if (!j[key].is_string()) return common::invalidArgument(std::string(key) + ": expected string");
  return j[key].get<std::string>();
}

Result<std::int64_t> intParam(const http::Request& req, const char* name) {
  auto v = req.queryParam(name);
  if (!v || v->empty()) return std::int64_t{0};
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < 0) {
    return common::invalidArgument(std::string(name) + ": \"" + *v +
                                   "\" is not a non-negative integer");
  }
  return out;
}

Result<bool> boolParam(const http::Request& req, const char* name) {
  auto v = req.queryParam(name);
  if (!v || v->empty() || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1") return true;
  return common::invalidArgument(std::string(name) + ": \"" + *v + "\" is not true or false");
}

// "/a/b/c" -> {"a","b","c"}
void sendMethodNotAllowed(const http::Request& req, http::ResponseWriter& w) {
  w.send(405, kJson,
         common::dumpJson(errorJson(
             common::invalidArgument("method " + req.method + " is not allowed on " + req.path))));
}

std::string sseEvent(std::string_view name, const Json& data) {
  std::string out = "event: ";
  out += name;
  out += "\ndata: ";
  out += common::dumpJson(data);
  out += "\n\n";
  return out;
}

}  // namespace

RestApi::RestApi(fleet::Fleet& fleet, Enrollment& enrollment, mqtt::RpcClient& rpc,
                 const TokenAuthenticator& tokens, StaticFiles dashboard, RestApiOptions opts)
    : fleet_(fleet),
      enrollment_(enrollment),
      rpc_(rpc),
      tokens_(tokens),
      dashboard_(std::move(dashboard)),
      opts_(std::move(opts)) {
  addRoutes();
}

void RestApi::handle(const http::Request& req, http::ResponseWriter& w) {
  if (req.path == "/healthz") {
    w.send(200, "text/plain", "ok\n");
    return;
  }
  if (req.path == "/api/v1/enroll") {
    if (req.method != "POST") {
      sendError(w, common::invalidArgument("use POST for " + req.path));
      return;
    }
    enroll(req, w);
    return;
  }
  if (req.path == "/api/v1/renew") {
    if (req.method != "POST") {
      sendError(w, common::invalidArgument("use POST for " + req.path));
      return;
    }
    renew(req, w);
    return;
  }
  if (req.path == "/api" || req.path.starts_with("/api/")) {
    api(req, w);
    return;
  }
  if (!dashboard_.serve(req, w)) {
    sendError(w, common::notFound("no route for " + req.method + " " + req.path));
  }
}

void RestApi::api(const http::Request& req, http::ResponseWriter& w) {
  auto principal = tokens_.authenticate(req.header("authorization"));
  if (!principal.isOk()) {
    sendError(w, principal.status());
    return;
  }
  switch (routes_.dispatch(req, w, *principal)) {
    case http::RouteOutcome::kHandled:
      return;
    case http::RouteOutcome::kMethodNotAllowed:
      return sendMethodNotAllowed(req, w);
    case http::RouteOutcome::kNoRoute:
      return sendError(w, common::notFound("no route for " + req.method + " " + req.path));
  }
}

// The /api/v1 route table (docs/hub-api.md). Every route runs after authentication.
void RestApi::addRoutes() {
  using Params = http::RouteParams;
  using Req = http::Request;
  using W = http::ResponseWriter;
  routes_.on("GET", "/api/v1/whoami", [](const Req&, W& w, const Params&, const Principal& p) {
    sendJson(w, 200, {{"name", p.name}, {"role", std::string(roleName(p.role))}});
  });
  routes_.on("GET", "/api/v1/overview", [this](const Req&, W& w, const Params&, const Principal&) {
    Json o = fleet_.overview();
    o["fleet"] = toJson(fleet_.fleetStatus());
    sendJson(w, 200, o);
  });
  routes_.on("GET", "/api/v1/stream",
             [this](const Req&, W& w, const Params&, const Principal&) { stream(w); });
  routes_.on(
      "GET", "/api/v1/events", [this](const Req& req, W& w, const Params&, const Principal&) {
        auto limit = intParam(req, "limit");
        if (!limit.isOk()) return sendError(w, limit.status());
        std::size_t n = *limit == 0 ? opts_.defaultEventLimit : static_cast<std::size_t>(*limit);
        Json items = Json::array();
        for (const auto& e : fleet_.events(std::min<std::size_t>(n, 1000)))
          items.push_back(toJson(e));
        sendJson(w, 200, {{"items", items}});
      });
  routes_.on("GET", "/api/v1/devices",
             [this](const Req& req, W& w, const Params&, const Principal&) {
               auto list = fleet_.listDevices(req.queryParam("selector").value_or(""));
               if (!list.isOk()) return sendError(w, list.status());
               Json items = Json::array();
               for (const auto& d : *list) items.push_back(toJson(d));
               sendJson(w, 200, {{"items", items}});
             });
  routes_.on("GET", "/api/v1/devices/{id}",
             [this](const Req&, W& w, const Params& p, const Principal&) {
               auto d = fleet_.getDevice(p.at("id"), true);
               if (!d.isOk()) return sendError(w, d.status());
               sendJson(w, 200, toJson(*d));
             });
  routes_.on("PUT", "/api/v1/devices/{id}/labels",
             [this](const Req& req, W& w, const Params& p, const Principal& principal) {
               putLabels(req, w, p.at("id"), principal);
             });
  // Module names contain '/'.
  routes_.on("GET", "/api/v1/devices/{id}/modules/{module...}/logs",
             [this](const Req& req, W& w, const Params& p, const Principal&) {
               logs(req, w, p.at("id"), p.at("module"));
             });
  routes_.on("GET", "/api/v1/deployments",
             [this](const Req& req, W& w, const Params&, const Principal&) {
               auto list = fleet_.listDeployments(req.queryParam("selector").value_or(""));
               if (!list.isOk()) return sendError(w, list.status());
               Json items = Json::array();
               for (const auto& d : *list) items.push_back(toJson(d, false));
               sendJson(w, 200, {{"items", items}});
             });
  routes_.on("GET", "/api/v1/deployments/{id}",
             [this](const Req&, W& w, const Params& p, const Principal&) {
               auto d = fleet_.getDeployment(p.at("id"));
               if (!d.isOk()) return sendError(w, d.status());
               sendJson(w, 200, toJson(*d, true));
             });
  routes_.on("DELETE", "/api/v1/deployments/{id}",
             [this](const Req&, W& w, const Params& p, const Principal& principal) {
               const std::string& id = p.at("id");
               if (auto s = TokenAuthenticator::requireAdmin(principal, "delete deployments");
                   !s.isOk()) {
                 return sendError(w, s);
               }
               if (auto s = fleet_.deleteDeployment(id); !s.isOk()) return sendError(w, s);
               sendJson(w, 200, {{"id", id}, {"deleted", true}});
             });
  routes_.on("GET", "/api/v1/pods",
             [this](const Req&, W& w, const Params&, const Principal&) { pods(w); });
}

void RestApi::putLabels(const http::Request& req, http::ResponseWriter& w, const std::string& id,
                        const Principal& principal) {
  if (auto s = TokenAuthenticator::requireAdmin(principal, "change device labels"); !s.isOk()) {
    return sendError(w, s);
  }
  auto body = jsonBody(req, 1024 * 1024);
  if (!body.isOk()) return sendError(w, body.status());
  if (auto s = onlyKeys(*body, {"labels"}); !s.isOk()) return sendError(w, s);
  if (!body->contains("labels") || !(*body)["labels"].is_object()) {
    return sendError(w, common::invalidArgument("labels: required object"));
  }
  common::Labels labels;
  for (const auto& [k, v] : (*body)["labels"].items()) {
    if (!v.is_string()) {
      return sendError(w, common::invalidArgument("labels." + k + ": expected string"));
    }
    labels[k] = v.get<std::string>();
  }
  auto d = fleet_.updateDeviceLabels(id, labels);
  if (!d.isOk()) return sendError(w, d.status());
  sendJson(w, 200, toJson(*d));
}

void RestApi::pods(http::ResponseWriter& w) {
  auto list = fleet_.listDeployments("");
  if (!list.isOk()) return sendError(w, list.status());
  Json items = Json::array();
  for (const auto& d : *list) {
    const auto& a = d.annotations();
    auto name = a.find("skiff.io/pod-name");
    if (name == a.end()) continue;
    auto get = [&](const char* k) {
      auto it = a.find(k);
      return it == a.end() ? std::string() : it->second;
    };
    Json dep = toJson(d, false);
    items.push_back({{"namespace", get("skiff.io/pod-namespace")},
                     {"name", name->second},
                     {"uid", get("skiff.io/pod-uid")},
                     {"node", get("skiff.io/node")},
                     {"deploymentId", d.id()},
                     {"targetSelector", d.target_selector()},
                     {"status", dep["status"]}});
  }
  sendJson(w, 200, {{"items", items}});
  return;
}

void RestApi::logs(const http::Request& req, http::ResponseWriter& w, const std::string& deviceId,
                   const std::string& module) {
  LogsQuery q;
  q.deviceId = deviceId;
  q.module = module;
  auto tail = intParam(req, "tailLines");
  auto since = intParam(req, "sinceSeconds");
  auto follow = boolParam(req, "follow");
  auto ts = boolParam(req, "timestamps");
  for (const Status& s : {tail.status(), since.status(), follow.status(), ts.status()}) {
    if (!s.isOk()) return sendError(w, s);
  }
  q.tailLines = *tail;
  q.sinceSeconds = *since;
  q.follow = *follow;
  q.timestamps = *ts;
  // Headers go out once the agent accepted the request (its first answer), so an error before
  // that (device offline or not answering, unknown module) is still a JSON error with the right
  // status, and a client following a quiet module still sees the stream start.
  bool started = false;
  auto start = [&] {
    if (started) return;
    w.startStream(200, "text/plain; charset=utf-8",
                  {{"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}});
    started = true;
  };
  Status s = streamLogs(
      fleet_, rpc_, q,
      [&](std::string_view data) {
        start();
        return w.writeChunk(data);
      },
      [&] { return w.cancelled() || stopping_.load(); }, opts_.rpcTimeout, start);
  if (started) return;
  if (!s.isOk()) return sendError(w, s);
  w.send(200, "text/plain; charset=utf-8", "");
}

void RestApi::stream(http::ResponseWriter& w) {
  auto sub = fleet_.feed().subscribe();
  auto events = fleet_.events(1);
  std::uint64_t lastEvent = events.empty() ? 0 : events.front().seq;
  bool broker = fleet_.brokerConnected();
  w.startStream(200, "text/event-stream",
                {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
  bool ok = w.writeChunk(": connected\n\n") &&
            w.writeChunk(sseEvent("hub", {{"brokerConnected", broker}}));
  auto lastWrite = std::chrono::steady_clock::now();
  while (ok && !w.cancelled() && !stopping_) {
    auto changes = sub->wait(std::chrono::milliseconds(1000));
    std::string out;
    std::set<std::string> changedDevices;  // a full `device` event covers a heartbeat
    for (const auto& c : changes) {
      if (c.kind == fleet::ChangeKind::kDevice) changedDevices.insert(c.id);
    }
    for (const auto& c : changes) {
      switch (c.kind) {
        case fleet::ChangeKind::kDevice: {
          auto d = fleet_.getDevice(c.id, false);
          out += d.isOk() ? sseEvent("device", toJson(*d))
                          : sseEvent("device-deleted", {{"id", c.id}});
          break;
        }
        case fleet::ChangeKind::kDeviceHeartbeat: {
          if (changedDevices.contains(c.id)) break;
          auto d = fleet_.getDevice(c.id, false);
          out += d.isOk() ? sseEvent("device-heartbeat", heartbeatJson(*d))
                          : sseEvent("device-deleted", {{"id", c.id}});
          break;
        }
        case fleet::ChangeKind::kDeployment: {
          auto d = fleet_.deploymentView(c.id, false);
          out += d.isOk() ? sseEvent("deployment", toJson(*d, false))
                          : sseEvent("deployment-deleted", {{"id", c.id}});
          break;
        }
        case fleet::ChangeKind::kEvent: {
          auto fresh = fleet_.events(1000, lastEvent);
          for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
            out += sseEvent("event", toJson(*it));
            lastEvent = it->seq;
          }
          break;
        }
        case fleet::ChangeKind::kHub: {
          bool now = fleet_.brokerConnected();
          if (now != broker) {
            broker = now;
            out += sseEvent("hub", {{"brokerConnected", broker}});
          }
          break;
        }
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (out.empty() && now - lastWrite >= opts_.keepAlive) out = ": keep-alive\n\n";
    if (!out.empty()) {
      ok = w.writeChunk(out);
      lastWrite = now;
    }
    if (!changes.empty()) std::this_thread::sleep_for(opts_.streamInterval);
  }
  fleet_.feed().unsubscribe(sub);
}

void RestApi::enroll(const http::Request& req, http::ResponseWriter& w) {
  auto body = jsonBody(req, 64 * 1024);
  if (!body.isOk()) return sendError(w, body.status());
  if (auto s = onlyKeys(*body, {"token", "csr"}); !s.isOk()) return sendError(w, s);
  auto token = stringField(*body, "token");
  auto csr = stringField(*body, "csr");
  if (!token.isOk()) return sendError(w, token.status());
  if (!csr.isOk()) return sendError(w, csr.status());
  auto doc = enrollment_.enroll(*token, *csr);
  if (!doc.isOk()) {
    common::log::warn("enrollment refused",
                      {{"remote", req.remoteAddress}, {"error", doc.status().toString()}});
    return sendError(w, doc.status());
  }
  sendJson(w, 200, *doc);
}

void RestApi::renew(const http::Request& req, http::ResponseWriter& w) {
  if (!req.clientCommonName || !req.clientCertSerial) {
    std::string why = req.clientCertError.empty()
                          ? "renewal needs the device's current client certificate"
                          : "client certificate refused: " + req.clientCertError +
                                " (an expired certificate cannot be renewed: enroll again)";
    return sendError(w, common::unauthenticated(why));
  }
  auto body = jsonBody(req, 64 * 1024);
  if (!body.isOk()) return sendError(w, body.status());
  if (auto s = onlyKeys(*body, {"csr"}); !s.isOk()) return sendError(w, s);
  auto csr = stringField(*body, "csr");
  if (!csr.isOk()) return sendError(w, csr.status());
  auto doc = enrollment_.renew(*req.clientCommonName, *req.clientCertSerial, *csr);
  if (!doc.isOk()) return sendError(w, doc.status());
  sendJson(w, 200, *doc);
}

}  // namespace skiff::hub::api
