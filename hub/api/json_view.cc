// Proto → REST JSON.
#include "hub/api/json_view.h"

#include "common/clock.h"

namespace skiff::hub::api {

using common::Json;

namespace {

Json embedded(const std::string& text) {
  if (text.empty()) return nullptr;
  auto j = common::parseJson(text, 64 * 1024 * 1024);
  return j.isOk() ? *j : Json(nullptr);
}

template <typename Map>
Json mapJson(const Map& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace

Json toJson(const v1::Device& d) {
  Json ids = Json::array();
  for (const auto& id : d.deployment_ids()) ids.push_back(id);
  Json j = {{"id", d.id()},
            {"labels", mapJson(d.labels())},
            {"implicitLabels", mapJson(d.implicit_labels())},
            {"createdAtUnixMs", d.created_at_unix_ms()},
            {"enrolled", d.enrolled()},
            {"certificateSerial", d.certificate_serial()},
            {"certificateNotAfterUnixMs", d.certificate_not_after_unix_ms()},
            {"online", d.online()},
            {"lastSeenUnixMs", d.last_seen_unix_ms()},
            {"desiredVersion", d.desired_version()},
            {"appliedVersion", d.applied_version()},
            {"reported", embedded(d.reported_json())},
            {"metrics", embedded(d.metrics_json())},
            {"deploymentIds", ids}};
  if (!d.metrics_history_json().empty()) j["metricsHistory"] = embedded(d.metrics_history_json());
  return j;
}

Json heartbeatJson(const v1::Device& d) {
  return {{"id", d.id()},
          {"lastSeenUnixMs", d.last_seen_unix_ms()},
          {"metrics", embedded(d.metrics_json())}};
}

Json toJson(const v1::Deployment& d, bool withDevices) {
  const auto& s = d.status();
  Json status = {{"targeted", s.targeted()},
                 {"applied", s.applied()},
                 {"running", s.running()},
                 {"failed", s.failed()},
                 {"offline", s.offline()}};
  if (withDevices) {
    Json devices = Json::array();
    for (const auto& dm : s.devices()) {
      Json shadowed = Json::array();
      for (const auto& p : dm.shadowed_pods()) shadowed.push_back(p);
      Json modules = embedded(dm.modules_json());
      Json pods = embedded(dm.pods_json());
      devices.push_back({{"deviceId", dm.device_id()},
                         {"online", dm.online()},
                         {"applied", dm.applied()},
                         {"desiredVersion", dm.desired_version()},
                         {"appliedVersion", dm.applied_version()},
                         {"pods", pods.is_null() ? Json::array() : pods},
                         {"modules", modules.is_null() ? Json::array() : modules},
                         {"error", dm.error()},
                         {"shadowedPods", shadowed}});
    }
    status["devices"] = devices;
  }
  Json pods = embedded(d.pods_json());
  if (pods.is_null()) pods = Json::array();
  // Every container as a module "<pod>/<container>" (what devices report), for overviews.
  Json modules = Json::array();
  for (const auto& p : pods) {
    for (const char* list : {"initContainers", "containers"}) {
      for (const auto& c : common::jsonField(p, list)) {
        modules.push_back(
            {{"name", common::jsonString(p, "name") + "/" + common::jsonString(c, "name")},
             {"image", common::jsonString(c, "image")},
             {"kind",
              std::string(list) == "containers"
                  ? "container"
                  : (common::jsonString(c, "restartPolicy") == "Always" ? "sidecar" : "init")}});
      }
    }
  }
  Json creds = embedded(d.registry_credentials_json());
  return {{"id", d.id()},
          {"labels", mapJson(d.labels())},
          {"annotations", mapJson(d.annotations())},
          {"targetSelector", d.target_selector()},
          {"priority", d.priority()},
          {"pods", pods},
          {"modules", modules},
          {"registryCredentials", creds.is_null() ? Json::array() : creds},
          {"generation", d.generation()},
          {"createdAtUnixMs", d.created_at_unix_ms()},
          {"updatedAtUnixMs", d.updated_at_unix_ms()},
          {"status", status}};
}

Json toJson(const v1::FleetStatus& s) {
  return {{"devices", s.devices()},
          {"enrolled", s.enrolled()},
          {"online", s.online()},
          {"cpuMillis", s.cpu_millis()},
          {"memoryBytes", s.memory_bytes()},
          {"diskBytes", s.disk_bytes()},
          {"deployments", s.deployments()},
          {"brokerConnected", s.broker_connected()},
          {"brokerUrl", s.broker_url()}};
}

Json toJson(const fleet::FleetEvent& e) {
  Json j = {{"seq", e.seq},
            {"type", e.type},
            {"reason", e.reason},
            {"message", e.message},
            {"at", common::formatRfc3339(
                       std::chrono::system_clock::time_point(std::chrono::milliseconds(e.atMs)))}};
  if (!e.deviceId.empty()) j["deviceId"] = e.deviceId;
  if (!e.deploymentId.empty()) j["deploymentId"] = e.deploymentId;
  return j;
}

Json errorJson(const common::Status& s) {
  return {{"error",
           {{"code", std::string(common::statusCodeName(s.code()))}, {"message", s.message()}}}};
}

int httpStatusOf(const common::Status& s) {
  using C = common::StatusCode;
  switch (s.code()) {
    case C::kOk:
      return 200;
    case C::kInvalidArgument:
      return 400;
    case C::kUnauthenticated:
      return 401;
    case C::kPermissionDenied:
      return 403;
    case C::kNotFound:
      return 404;
    case C::kAlreadyExists:
    case C::kConflict:
      return 409;
    case C::kGone:
      return 410;
    case C::kResourceExhausted:
      return 413;
    case C::kUnavailable:
      return 503;
    case C::kDeadlineExceeded:
      return 504;
    case C::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace skiff::hub::api
