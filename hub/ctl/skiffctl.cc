// skiffctl commands: flag parsing, gRPC calls, tables and JSON output, exit codes.
#include "hub/ctl/skiffctl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <stop_token>

#include "common/clock.h"
#include "common/flags.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/protocol/protocol.h"
#include "hub/api/json_view.h"
#include "hub/ctl/client.h"
#include "hub/ctl/manifest.h"

namespace skiff::hub::ctl {

using common::Json;
using common::Status;

namespace {

struct Flags {
  std::string server = "127.0.0.1:7443";
  std::string ca;
  std::string token;
  std::string tokenFile;
  std::string output = "table";
  std::chrono::milliseconds timeout{30000};
  // Command arguments.
  std::string id;
  std::string module;
  std::vector<std::string> labels;  // k=v (add) or k=v / k- (label)
  std::string selector;
  bool enroll = false;
  std::chrono::milliseconds ttl{0};
  std::string file;
  bool follow = false;
  std::int64_t tail = 0;
  std::chrono::milliseconds since{0};
  bool timestamps = false;
};

int exitCodeOf(const Status& s) {
  using C = common::StatusCode;
  switch (s.code()) {
    case C::kOk:
      return 0;
    case C::kInvalidArgument:
      return 2;
    case C::kUnauthenticated:
    case C::kPermissionDenied:
      return 3;
    case C::kNotFound:
      return 4;
    case C::kUnavailable:
    case C::kDeadlineExceeded:
      return 5;
    case C::kAlreadyExists:
      return 6;
    default:
      return 1;
  }
}

std::string age(std::int64_t unixMs) {
  if (unixMs <= 0) return "-";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::int64_t s = std::max<std::int64_t>(0, (now - unixMs) / 1000);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

template <typename Map>
std::string labelText(const Map& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(k + "=" + v);
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out.empty() ? "<none>" : out;
}

void printTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(w[i] - cells[i].size() + 3, ' ');
    }
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

void printJson(std::ostream& out, const Json& j) { out << j.dump(2) << "\n"; }

common::Result<std::pair<std::string, std::string>> splitLabel(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    return common::invalidArgument("label \"" + kv + "\": want key=value");
  }
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

// A field for display: the string (dflt when absent, empty or not a string), the integer (0).
std::string text(const Json& j, const char* key, const char* dflt = "") {
  std::string v = common::jsonString(j, key);
  return v.empty() ? dflt : v;
}
std::int64_t number(const Json& j, const char* key) {
  const Json& v = common::jsonField(j, key);
  return v.is_number_integer() ? v.get<std::int64_t>() : 0;
}

std::string moduleSummary(const std::string& modulesJson) {
  auto j = common::parseJson(modulesJson);
  if (!j.isOk() || !j->is_array()) return "";
  std::string out;
  for (const auto& m : *j) {
    std::string s = text(m, "name", "?") + "=" + text(m, "state", "?");
    std::string reason = text(m, "reason");
    if (!reason.empty()) s += "(" + reason + ")";
    std::int64_t restarts = number(m, "restartCount");
    if (restarts > 0) s += "[" + std::to_string(restarts) + " restarts]";
    out += (out.empty() ? "" : ",") + s;
  }
  return out.empty() ? "-" : out;
}

// "web=Running(10.88.0.4)" per pod of the deployment on a device.
std::string podSummary(const std::string& podsJson) {
  auto j = common::parseJson(podsJson);
  if (!j.isOk() || !j->is_array()) return "-";
  std::string out;
  for (const auto& p : *j) {
    std::string s = text(p, "name", "?") + "=" + text(p, "phase", "?");
    if (common::jsonField(p, "terminating") == true) s += "(terminating)";
    std::string ip = text(p, "podIP");
    if (!ip.empty()) s += "(" + ip + ")";
    out += (out.empty() ? "" : ",") + s;
  }
  return out.empty() ? "-" : out;
}

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, std::stop_token stop)
      : out_(out), err_(err), stop_(std::move(stop)) {}

  int run(int argc, const char* const* argv);

 private:
  Status connect();
  // Runs a unary call honouring Ctrl-C.
  template <typename Fn>
  Status call(Fn&& fn) {
    auto ctx = client_->context();
    std::stop_callback cancel(stop_, [&] { ctx->TryCancel(); });
    return fromGrpc(fn(client_->stub(), ctx.get()), client_->server());
  }
  bool json() const { return f_.output == "json"; }

  Status deviceAdd();
  Status deviceList();
  Status deviceGet();
  Status deviceLabel();
  Status deviceRemove();
  Status tokenCreate();
  Status deployApply();
  Status deployList();
  Status deployGet();
  Status deployStatus();
  Status deployDelete();
  Status logs();
  Status fleet();

  std::ostream& out_;
  std::ostream& err_;
  std::stop_token stop_;
  Flags f_;
  std::unique_ptr<HubClient> client_;
};

Status Cli::connect() {
  if (f_.output != "table" && f_.output != "json") {
    return common::invalidArgument("-o must be table or json");
  }
  std::string token = f_.token;
  if (!f_.tokenFile.empty()) {
    auto t = common::readFile(f_.tokenFile);
    if (!t.isOk()) return t.status().withContext("--token-file");
    token = *t;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  if (token.empty()) {
    return common::invalidArgument(
        "no token: pass --token, --token-file, SKIFF_HUB_TOKEN or a --config file with token = "
        "\"...\" (skiff-hub init writes <data-dir>/skiffctl.toml)");
  }
  ClientOptions o{f_.server, f_.ca, token, f_.timeout};
  auto c = HubClient::connect(o);
  if (!c.isOk()) return c.status();
  client_ = std::move(*c);
  return Status::ok();
}

Status Cli::deviceAdd() {
  v1::CreateDeviceRequest req;
  req.set_id(f_.id);
  for (const auto& kv : f_.labels) {
    auto p = splitLabel(kv);
    if (!p.isOk()) return p.status();
    (*req.mutable_labels())[p->first] = p->second;
  }
  v1::Device d;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.CreateDevice(ctx, req, &d); }));
  v1::EnrollmentToken tok;
  if (f_.enroll) {
    v1::CreateEnrollmentTokenRequest treq;
    treq.set_device_id(f_.id);
    treq.set_ttl_seconds(f_.ttl.count() / 1000);
    SKIFF_RETURN_IF_ERROR(
        call([&](auto& s, auto* ctx) { return s.CreateEnrollmentToken(ctx, treq, &tok); }));
  }
  if (json()) {
    Json j = api::toJson(d);
    if (f_.enroll) {
      j["enrollmentToken"] = {{"token", tok.token()},
                              {"expiresAtUnixMs", tok.expires_at_unix_ms()}};
    }
    printJson(out_, j);
  } else {
    out_ << "device/" << d.id() << " created\n";
    if (f_.enroll) {
      out_ << "enrollment token (one use, expires "
           << common::formatRfc3339(std::chrono::system_clock::time_point(
                  std::chrono::milliseconds(tok.expires_at_unix_ms())))
           << "): " << tok.token() << "\n";
    }
  }
  return Status::ok();
}

Status Cli::deviceList() {
  v1::ListDevicesRequest req;
  req.set_label_selector(f_.selector);
  v1::ListDevicesResponse resp;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.ListDevices(ctx, req, &resp); }));
  if (json()) {
    Json items = Json::array();
    for (const auto& d : resp.devices()) items.push_back(api::toJson(d));
    printJson(out_, {{"items", items}});
    return Status::ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : resp.devices()) {
    auto arch = d.implicit_labels().find("skiff.io/arch");
    rows.push_back({d.id(), d.online() ? "online" : "offline", d.enrolled() ? "yes" : "no",
                    arch == d.implicit_labels().end() ? "-" : arch->second,
                    std::to_string(d.desired_version()), std::to_string(d.applied_version()),
                    std::to_string(d.deployment_ids_size()), age(d.last_seen_unix_ms()),
                    labelText(d.labels())});
  }
  if (rows.empty()) {
    err_ << "No devices" << (f_.selector.empty() ? "" : " match \"" + f_.selector + "\"") << ".\n";
    return Status::ok();
  }
  printTable(
      out_,
      {"ID", "STATUS", "ENROLLED", "ARCH", "DESIRED", "APPLIED", "DEPLOYMENTS", "SEEN", "LABELS"},
      rows);
  return Status::ok();
}

Status Cli::deviceGet() {
  v1::GetDeviceRequest req;
  req.set_id(f_.id);
  v1::Device d;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.GetDevice(ctx, req, &d); }));
  if (json()) {
    printJson(out_, api::toJson(d));
    return Status::ok();
  }
  out_ << "ID:            " << d.id() << "\n"
       << "Labels:        " << labelText(d.labels()) << "\n"
       << "Implicit:      " << labelText(d.implicit_labels()) << "\n"
       << "Status:        " << (d.online() ? "online" : "offline") << " (seen "
       << age(d.last_seen_unix_ms()) << " ago)\n"
       << "Enrolled:      " << (d.enrolled() ? "yes, certificate " + d.certificate_serial() : "no")
       << "\n"
       << "Desired:       version " << d.desired_version() << ", applied " << d.applied_version()
       << "\n"
       << "Deployments:   ";
  for (int i = 0; i < d.deployment_ids_size(); ++i) {
    out_ << (i ? ", " : "") << d.deployment_ids(i);
  }
  out_ << (d.deployment_ids_size() == 0 ? "<none>" : "") << "\n";
  auto rep = common::parseJson(d.reported_json());
  if (rep.isOk() && rep->is_object()) {
    if (rep->contains("facts")) {
      const auto& f = (*rep)["facts"];
      out_ << "Facts:         " << text(f, "arch", "?") << ", " << text(f, "osRelease", "?") << ", "
           << number(f, "cpus") << " CPUs, " << text(f, "engine", "?") << ", agent "
           << text(f, "agentVersion", "?") << "\n";
    }
    if (rep->contains("desiredError")) {
      const auto& e = (*rep)["desiredError"];
      out_ << "Desired error: " << text(e, "reason") << ": " << text(e, "message") << "\n";
    }
    std::vector<std::vector<std::string>> rows;
    if (rep->contains("modules")) {
      for (const auto& m : (*rep)["modules"]) {
        rows.push_back({text(m, "name"), text(m, "deploymentId"), text(m, "state"),
                        text(m, "reason", "-"), std::to_string(number(m, "restartCount")),
                        text(m, "image")});
      }
    }
    if (!rows.empty()) {
      out_ << "\n";
      printTable(out_, {"MODULE", "DEPLOYMENT", "STATE", "REASON", "RESTARTS", "IMAGE"}, rows);
    }
  }
  return Status::ok();
}

Status Cli::deviceLabel() {
  v1::GetDeviceRequest get;
  get.set_id(f_.id);
  v1::Device d;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.GetDevice(ctx, get, &d); }));
  v1::UpdateDeviceLabelsRequest req;
  req.set_id(f_.id);
  *req.mutable_labels() = d.labels();
  if (f_.labels.empty()) return common::invalidArgument("give labels as key=value or key-");
  for (const auto& kv : f_.labels) {
    if (kv.size() > 1 && kv.back() == '-' && kv.find('=') == std::string::npos) {
      req.mutable_labels()->erase(kv.substr(0, kv.size() - 1));
      continue;
    }
    auto p = splitLabel(kv);
    if (!p.isOk()) return p.status();
    (*req.mutable_labels())[p->first] = p->second;
  }
  v1::Device out;
  SKIFF_RETURN_IF_ERROR(
      call([&](auto& s, auto* ctx) { return s.UpdateDeviceLabels(ctx, req, &out); }));
  if (json()) {
    printJson(out_, api::toJson(out));
  } else {
    out_ << "device/" << out.id() << " labeled " << labelText(out.labels()) << "\n";
  }
  return Status::ok();
}

Status Cli::deviceRemove() {
  v1::DeleteDeviceRequest req;
  req.set_id(f_.id);
  v1::DeleteResponse resp;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.DeleteDevice(ctx, req, &resp); }));
  if (json()) {
    printJson(out_, {{"id", f_.id}, {"deleted", true}});
  } else {
    out_ << "device/" << f_.id << " deleted (certificate revoked)\n";
  }
  return Status::ok();
}

Status Cli::tokenCreate() {
  v1::CreateEnrollmentTokenRequest req;
  req.set_device_id(f_.id);
  req.set_ttl_seconds(f_.ttl.count() / 1000);
  v1::EnrollmentToken tok;
  SKIFF_RETURN_IF_ERROR(
      call([&](auto& s, auto* ctx) { return s.CreateEnrollmentToken(ctx, req, &tok); }));
  if (json()) {
    printJson(out_, {{"token", tok.token()},
                     {"deviceId", tok.device_id()},
                     {"expiresAtUnixMs", tok.expires_at_unix_ms()}});
  } else {
    out_ << tok.token() << "\n";
    err_ << "one-time enrollment token for " << tok.device_id() << ", expires "
         << common::formatRfc3339(std::chrono::system_clock::time_point(
                std::chrono::milliseconds(tok.expires_at_unix_ms())))
         << "\n";
  }
  return Status::ok();
}

Status Cli::deployApply() {
  std::string text;
  std::string source = f_.file;
  if (f_.file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
    source = "<stdin>";
  } else {
    auto t = common::readFile(f_.file);
    if (!t.isOk()) return common::invalidArgument(t.status().message());
    text = *t;
  }
  auto deployments = parseManifests(text, source);
  if (!deployments.isOk()) return deployments.status();
  Json items = Json::array();
  for (const auto& d : *deployments) {
    v1::ApplyDeploymentRequest req;
    *req.mutable_deployment() = d;
    v1::Deployment out;
    Status s = call([&](auto& st, auto* ctx) { return st.ApplyDeployment(ctx, req, &out); });
    if (!s.isOk()) return s.withContext("deployment " + d.id());
    if (json()) {
      items.push_back(api::toJson(out, false));
    } else {
      out_ << "deployment/" << out.id() << " applied (generation " << out.generation()
           << ", targets " << out.status().targeted() << " device"
           << (out.status().targeted() == 1 ? "" : "s") << ")\n";
    }
  }
  if (json()) printJson(out_, {{"items", items}});
  return Status::ok();
}

Status Cli::deployList() {
  v1::ListDeploymentsRequest req;
  req.set_label_selector(f_.selector);
  v1::ListDeploymentsResponse resp;
  SKIFF_RETURN_IF_ERROR(
      call([&](auto& s, auto* ctx) { return s.ListDeployments(ctx, req, &resp); }));
  if (json()) {
    Json items = Json::array();
    for (const auto& d : resp.deployments()) items.push_back(api::toJson(d, false));
    printJson(out_, {{"items", items}});
    return Status::ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : resp.deployments()) {
    const auto& st = d.status();
    rows.push_back(
        {d.id(), d.target_selector(), std::to_string(d.priority()), std::to_string(d.generation()),
         std::to_string(st.targeted()), std::to_string(st.applied()), std::to_string(st.running()),
         std::to_string(st.failed()), std::to_string(st.offline()), age(d.updated_at_unix_ms())});
  }
  if (rows.empty()) {
    err_ << "No deployments.\n";
    return Status::ok();
  }
  printTable(out_,
             {"ID", "SELECTOR", "PRIORITY", "GEN", "TARGETED", "APPLIED", "RUNNING", "FAILED",
              "OFFLINE", "UPDATED"},
             rows);
  return Status::ok();
}

Status Cli::deployGet() {
  v1::GetDeploymentRequest req;
  req.set_id(f_.id);
  v1::Deployment d;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.GetDeployment(ctx, req, &d); }));
  if (json()) {
    printJson(out_, api::toJson(d, true));
    return Status::ok();
  }
  out_ << "ID:          " << d.id() << "\n"
       << "Selector:    " << d.target_selector() << "\n"
       << "Priority:    " << d.priority() << "\n"
       << "Generation:  " << d.generation() << "\n"
       << "Labels:      " << labelText(d.labels()) << "\n"
       << "Annotations: " << labelText(d.annotations()) << "\n"
       << "Updated:     " << age(d.updated_at_unix_ms()) << " ago\n";
  Json view = api::toJson(d, false);
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : view["modules"]) {
    rows.push_back({text(m, "name"), text(m, "kind"), text(m, "image")});
  }
  out_ << "\n";
  printTable(out_, {"MODULE", "KIND", "IMAGE"}, rows);
  return Status::ok();
}

Status Cli::deployStatus() {
  v1::GetDeploymentRequest req;
  req.set_id(f_.id);
  v1::Deployment d;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.GetDeployment(ctx, req, &d); }));
  if (json()) {
    printJson(out_, api::toJson(d, true)["status"]);
    return Status::ok();
  }
  const auto& st = d.status();
  out_ << "deployment/" << d.id() << " generation " << d.generation() << ": " << st.targeted()
       << " targeted, " << st.applied() << " applied, " << st.running() << " running, "
       << st.failed() << " failed, " << st.offline() << " offline\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& dm : st.devices()) {
    std::string shadowed;
    for (const auto& p : dm.shadowed_pods()) shadowed += (shadowed.empty() ? "" : ",") + p;
    rows.push_back({dm.device_id(), dm.online() ? "online" : "offline", dm.applied() ? "yes" : "no",
                    std::to_string(dm.desired_version()), std::to_string(dm.applied_version()),
                    podSummary(dm.pods_json()), moduleSummary(dm.modules_json()),
                    shadowed.empty() ? "-" : shadowed, dm.error().empty() ? "-" : dm.error()});
  }
  if (!rows.empty()) {
    out_ << "\n";
    printTable(out_,
               {"DEVICE", "STATUS", "APPLIED", "DESIRED", "REPORTED", "PODS", "CONTAINERS",
                "SHADOWED", "ERROR"},
               rows);
  }
  return Status::ok();
}

Status Cli::deployDelete() {
  v1::DeleteDeploymentRequest req;
  req.set_id(f_.id);
  v1::DeleteResponse resp;
  SKIFF_RETURN_IF_ERROR(
      call([&](auto& s, auto* ctx) { return s.DeleteDeployment(ctx, req, &resp); }));
  if (json()) {
    printJson(out_, {{"id", f_.id}, {"deleted", true}});
  } else {
    out_ << "deployment/" << f_.id << " deleted\n";
  }
  return Status::ok();
}

Status Cli::logs() {
  v1::LogsRequest req;
  req.set_device_id(f_.id);
  req.set_module(f_.module);
  req.set_follow(f_.follow);
  req.set_tail_lines(f_.tail);
  req.set_since_seconds(f_.since.count() / 1000);
  req.set_timestamps(f_.timestamps);
  if (f_.tail < 0) return common::invalidArgument("--tail must not be negative");
  auto ctx = client_->context(/*stream=*/true);
  std::stop_callback cancel(stop_, [&] { ctx->TryCancel(); });
  auto reader = client_->stub().StreamLogs(ctx.get(), req);
  v1::LogChunk chunk;
  while (reader->Read(&chunk)) {
    out_ << chunk.data();
    out_.flush();
  }
  grpc::Status s = reader->Finish();
  if (s.error_code() == grpc::StatusCode::CANCELLED && stop_.stop_requested()) {
    return Status::ok();
  }
  return fromGrpc(s, client_->server());
}

Status Cli::fleet() {
  v1::GetFleetStatusRequest req;
  v1::FleetStatus st;
  SKIFF_RETURN_IF_ERROR(call([&](auto& s, auto* ctx) { return s.GetFleetStatus(ctx, req, &st); }));
  if (json()) {
    printJson(out_, api::toJson(st));
    return Status::ok();
  }
  out_ << "Devices:      " << st.devices() << " (" << st.enrolled() << " enrolled, " << st.online()
       << " online)\n"
       << "Capacity:     " << st.cpu_millis() << "m CPU, " << st.memory_bytes() / (1024 * 1024)
       << " MiB memory, " << st.disk_bytes() / (1024 * 1024) << " MiB disk (online devices)\n"
       << "Deployments:  " << st.deployments() << "\n"
       << "Broker:       " << st.broker_url() << " ("
       << (st.broker_connected() ? "connected" : "DISCONNECTED") << ")\n";
  return Status::ok();
}

int Cli::run(int argc, const char* const* argv) {
  CLI::App app{"skiffctl: operate a Skiff fleet through the hub's gRPC API", "skiffctl"};
  app.set_version_flag("--version", "skiffctl " SKIFF_VERSION);
  app.add_option("--server", f_.server, "Hub gRPC address host:port")
      ->envname("SKIFF_HUB_SERVER")
      ->capture_default_str();
  app.add_option("--ca", f_.ca, "CA certificate that signed the hub's certificate")
      ->envname("SKIFF_HUB_CA");
  app.add_option("--token", f_.token, "Bearer token (admin or reader)")->envname("SKIFF_HUB_TOKEN");
  app.add_option("--token-file", f_.tokenFile, "File holding the bearer token");
  app.add_option("-o,--output", f_.output, "Output: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  common::addDurationOption(app, "--timeout", f_.timeout, "Deadline of each call");
  app.set_config("--config", "", "TOML file with server, ca, token (command line wins)")
      ->envname("SKIFFCTL_CONFIG");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.require_subcommand(1);

  std::function<Status()> action;
  auto bind = [&](CLI::App* sub, Status (Cli::*fn)()) {
    sub->callback([this, &action, fn] { action = [this, fn] { return (this->*fn)(); }; });
  };

  auto* device = app.add_subcommand("device", "Register, list, label and remove devices");
  device->require_subcommand(1);
  auto* add = device->add_subcommand("add", "Register a device");
  add->add_option("id", f_.id, "Device id (DNS label)")->required();
  add->add_option("-l,--label", f_.labels, "Label key=value (repeatable)");
  add->add_flag("--enroll", f_.enroll, "Also create a one-time enrollment token");
  common::addDurationOption(*add, "--ttl", f_.ttl, "Enrollment token lifetime (0 = hub default)");
  bind(add, &Cli::deviceAdd);
  auto* list = device->add_subcommand("list", "List devices");
  list->add_option("-l,--selector", f_.selector, "Label selector (\"site=a,arch in (arm64)\")");
  bind(list, &Cli::deviceList);
  auto* get = device->add_subcommand("get", "Show one device");
  get->add_option("id", f_.id, "Device id")->required();
  bind(get, &Cli::deviceGet);
  auto* label = device->add_subcommand("label", "Set (key=value) or remove (key-) labels");
  label->add_option("id", f_.id, "Device id")->required();
  label->add_option("labels", f_.labels, "key=value or key-")->required();
  bind(label, &Cli::deviceLabel);
  auto* remove = device->add_subcommand("remove", "Delete a device and revoke its certificate");
  remove->alias("delete");
  remove->add_option("id", f_.id, "Device id")->required();
  bind(remove, &Cli::deviceRemove);

  auto* token = app.add_subcommand("token", "Enrollment tokens");
  token->require_subcommand(1);
  auto* tcreate = token->add_subcommand("create", "Create a one-time enrollment token");
  tcreate->add_option("device", f_.id, "Device id")->required();
  common::addDurationOption(*tcreate, "--ttl", f_.ttl, "Token lifetime (0 = hub default)");
  bind(tcreate, &Cli::tokenCreate);

  auto* deploy = app.add_subcommand("deploy", "Apply, list, inspect and delete deployments");
  deploy->require_subcommand(1);
  auto* apply = deploy->add_subcommand("apply", "Create or update deployments from a file");
  apply->add_option("-f,--filename", f_.file, "YAML or JSON manifest, - for stdin")->required();
  bind(apply, &Cli::deployApply);
  auto* dlist = deploy->add_subcommand("list", "List deployments with status counts");
  dlist->add_option("-l,--selector", f_.selector, "Label selector over deployment labels");
  bind(dlist, &Cli::deployList);
  auto* dget = deploy->add_subcommand("get", "Show one deployment");
  dget->add_option("id", f_.id, "Deployment id")->required();
  bind(dget, &Cli::deployGet);
  auto* dstatus = deploy->add_subcommand("status", "Per-device status of a deployment");
  dstatus->add_option("id", f_.id, "Deployment id")->required();
  bind(dstatus, &Cli::deployStatus);
  auto* ddelete = deploy->add_subcommand("delete", "Delete a deployment");
  ddelete->add_option("id", f_.id, "Deployment id")->required();
  bind(ddelete, &Cli::deployDelete);

  auto* logsCmd = app.add_subcommand("logs", "Print (or follow) a module's output on a device");
  logsCmd->add_option("device", f_.id, "Device id")->required();
  logsCmd->add_option("module", f_.module, "Module name (e.g. web/nginx)")->required();
  logsCmd->add_flag("-f,--follow", f_.follow, "Keep streaming until interrupted");
  logsCmd->add_option("--tail", f_.tail, "Only the last N lines (0 = all)");
  common::addDurationOption(*logsCmd, "--since", f_.since, "Only output newer than this");
  logsCmd->add_flag("--timestamps", f_.timestamps, "Prefix lines with timestamps");
  bind(logsCmd, &Cli::logs);

  auto* fleetCmd = app.add_subcommand("fleet", "Fleet summary: devices, capacity, broker");
  bind(fleetCmd, &Cli::fleet);

  common::ParseOutcome parsed = common::parseCommandLine(app, argc, argv);
  if (parsed.kind == common::ParseOutcome::Kind::kExit) {
    (parsed.exitCode == 0 ? out_ : err_) << parsed.output;
    return parsed.exitCode;
  }
  if (!action) {
    err_ << "skiffctl: no command given\n";
    return 2;
  }
  Status s = connect();
  if (s.isOk()) s = action();
  if (!s.isOk()) {
    err_ << "skiffctl: " << s.toString() << "\n";
    return exitCodeOf(s);
  }
  return 0;
}

}  // namespace

int runSkiffctl(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
                std::stop_token stop) {
  Cli cli(out, err, std::move(stop));
  return cli.run(argc, argv);
}

}  // namespace skiff::hub::ctl
