// See system.h.
#include "tests/e2e/system.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include "common/fs.h"
#include "common/net.h"
#include "tests/support/http.h"

#ifndef SKIFFCTL_BIN
#error "SKIFFCTL_BIN must name the skiffctl binary"
#endif

namespace skiff::test {

using common::Json;
using common::Result;
using common::Status;
using common::urlEncode;

namespace {

std::string tail(const std::string& s, std::size_t n) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

}  // namespace

std::string edgePodYaml(const std::string& name, const std::string& image,
                        const std::string& script,
                        const std::map<std::string, std::string>& nodeSelector) {
  std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
                     "\nspec:\n  terminationGracePeriodSeconds: 1\n";
  if (!nodeSelector.empty()) {
    yaml += "  nodeSelector:\n";
    for (const auto& [k, v] : nodeSelector) yaml += "    " + k + ": " + v + "\n";
  }
  return yaml +
         "  tolerations:\n"
         "  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}\n"
         "  containers:\n"
         "  - name: main\n"
         "    image: " +
         image + "\n    command: [\"sh\", \"-c\", \"" + script + "\"]\n";
}

Json podJson(System& sys, const std::string& name) {
  auto p = sys.getJson({"pod", name});
  return p.isOk() ? *p : Json::object();
}

Json statusOf(const Json& pod, const std::string& container) {
  if (!pod.contains("status")) return Json::object();
  for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
    const Json& l = pod["status"].contains(list) ? pod["status"][list] : Json::array();
    for (const auto& c : l) {
      if (c.value("name", "") == container) return c;
    }
  }
  return Json::object();
}

int lastTick(const std::string& text) {
  static const std::regex kTick("tick ([0-9]+)");
  int last = -1;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kTick);
       it != std::sregex_iterator(); ++it) {
    last = std::stoi((*it)[1].str());
  }
  return last;
}

Result<std::unique_ptr<System>> System::create(SystemOptions opts) {
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create(opts.name));
  std::unique_ptr<System> sys(new System(std::move(opts), std::move(dir)));
  SKIFF_ASSIGN_OR_RETURN(sys->registry_, RegistryFixture::create());
  PodmanOptions po;
  po.insecureRegistries = {sys->registry_->hostPort()};
  SKIFF_ASSIGN_OR_RETURN(sys->podman_, PodmanFixture::create(po));
  HubFixtureOptions ho;
  ho.extraFlags = {"--log-level", sys->opts_.logLevel};
  ho.extraFlags.insert(ho.extraFlags.end(), sys->opts_.hubArgs.begin(), sys->opts_.hubArgs.end());
  SKIFF_ASSIGN_OR_RETURN(sys->hub_, HubFixture::create(ho));
  if (sys->opts_.controlPlane) {
    std::filesystem::create_directories(sys->dir_.file("home"));
    ControlPlaneProcessOptions co;
    co.dataDir = sys->dir_.file("cp");
    co.schedulerAndControllers = true;
    co.extraArgs = sys->opts_.controlPlaneArgs;
    if (sys->opts_.logLevel != "debug") {
      co.extraArgs.insert(co.extraArgs.end(), {"--log-level", sys->opts_.logLevel});
    }
    SKIFF_ASSIGN_OR_RETURN(sys->cp_, ControlPlaneProcess::start(co));
    sys->kubectl_.emplace(sys->dir_.file("home"), sys->cp_->adminKubeconfig());
  }
  return sys;
}

System::~System() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-e2e] system diagnostics (" << dir_.path() << "):\n"
              << diagnostics() << "\n";
  }
}

std::string System::file(const std::string& name, const std::string& content) const {
  std::string path = dir_.file(name);
  Status s = common::writeFileAtomic(path, content);
  if (!s.isOk()) ADD_FAILURE() << "writing " << path << ": " << s;
  return path;
}

std::vector<std::string> System::skiffctlArgv() const {
  return {SKIFFCTL_BIN, "--config", hub_->skiffctlConfig()};
}

Result<CommandResult> System::skiffctl(const std::vector<std::string>& args,
                                       std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = skiffctlArgv();
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, {}, timeout);
}

Result<std::string> System::skiffctlOk(const std::vector<std::string>& args) {
  SKIFF_ASSIGN_OR_RETURN(CommandResult r, skiffctl(args));
  if (r.exitCode != 0) {
    std::string cmd = "skiffctl";
    for (const auto& a : args) cmd += " " + a;
    return common::internalError(cmd + " exited with " + std::to_string(r.exitCode) + ":\n" +
                                 r.output);
  }
  return r.output;
}

std::string System::agentStateDir(const std::string& id) const { return dir_.file("agents/" + id); }

PodmanFixture& System::engineOf(const std::string& deviceId) {
  auto it = ownEngines_.find(deviceId);
  return it != ownEngines_.end() ? *it->second : *podman_;
}

Status System::addAgent(const std::string& id, const std::map<std::string, std::string>& labels,
                        Bootstrap bootstrap, bool ownEngine) {
  if (ownEngine) {
    PodmanOptions po;
    po.insecureRegistries = {registry_->hostPort()};
    SKIFF_ASSIGN_OR_RETURN(ownEngines_[id], PodmanFixture::create(po));
  }
  std::vector<std::string> add = {"device", "add", id};
  for (const auto& [k, v] : labels) {
    add.push_back("-l");
    add.push_back(k + "=" + v);
  }
  SKIFF_RETURN_IF_ERROR(skiffctlOk(add).status());
  SKIFF_ASSIGN_OR_RETURN(std::string out, skiffctlOk({"token", "create", id}));
  std::smatch m;
  static const std::regex kToken("skiff-enroll-[A-Za-z0-9_-]+");
  if (!std::regex_search(out, m, kToken)) {
    return common::internalError("no enrollment token in skiffctl's output: " + out);
  }
  std::string token = m.str();

  std::string stateDir = agentStateDir(id);
  std::string logDir = dir_.file("agents/" + id + "-logs");
  SKIFF_RETURN_IF_ERROR(common::makeDirs(logDir));
  AgentRunOptions ro;
  ro.extraArgs = opts_.agentArgs;
  if (opts_.logLevel != "debug") {  // benchmarks: production intervals
    ro.testIntervals = false;
    ro.extraArgs.insert(ro.extraArgs.end(), {"--log-level", opts_.logLevel});
  }
  auto agent = std::make_unique<AgentProcess>(stateDir, engineOf(id).socketPath(), logDir, ro);
  std::vector<std::string> enroll = {"--hub", hub_->httpsUrl(), "--token", token};
  if (bootstrap == Bootstrap::kCaFile) {
    enroll.insert(enroll.end(), {"--ca-file", hub_->caFile()});
  } else {
    // What an operator does: the fingerprint of the hub CA as openssl prints it.
    SKIFF_ASSIGN_OR_RETURN(
        std::string fp, runCommandOk({"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                                      hub_->caFile()}));
    auto eq = fp.find('=');
    if (eq == std::string::npos) return common::internalError("openssl printed: " + fp);
    fp = fp.substr(eq + 1);
    while (!fp.empty() && std::isspace(static_cast<unsigned char>(fp.back()))) fp.pop_back();
    enroll.insert(enroll.end(), {"--ca-sha256", fp});
  }
  SKIFF_ASSIGN_OR_RETURN(CommandResult er, agent->enroll(enroll));
  if (er.exitCode != 0) {
    return common::internalError("skiff-agent enroll exited with " + std::to_string(er.exitCode) +
                                 ":\n" + er.output);
  }
  SKIFF_RETURN_IF_ERROR(agent->start());
  AgentProcess* a = agent.get();
  agents_[id] = std::move(agent);
  // Online at the hub (presence) and a first report ingested.
  Status online = waitUntil([&] { return deviceOnline(id); }, std::chrono::seconds(60),
                            "agent " + id + " online at the hub", std::chrono::milliseconds(200));
  if (!online.isOk()) {
    return online.withContext("agent log:\n" + tail(a->log(), 4000));
  }
  return Status::ok();
}

Status System::startVirtualNode(bool nodePerDevice, std::vector<std::string> extraArgs) {
  if (!cp_) return common::invalidArgument("the system has no control plane");
  VirtualNodeProcessOptions vo;
  vo.dir = dir_.file("vn");
  std::filesystem::create_directories(vo.dir);
  vo.kubeconfig = cp_->adminKubeconfig();
  vo.hubAddress = hub_->grpcAddress();
  SKIFF_ASSIGN_OR_RETURN(vo.hubCaPem, common::readFile(hub_->caFile()));
  vo.hubToken = hub_->adminToken();
  vo.nodePerDevice = nodePerDevice;
  vo.logLevel = opts_.logLevel;
  vo.extraArgs = std::move(extraArgs);
  SKIFF_ASSIGN_OR_RETURN(vn_, VirtualNodeProcess::start(vo));
  return Status::ok();
}

Result<std::vector<Json>> System::containers(const std::string& deviceId) {
  std::string filter =
      urlEncode(common::dumpJson(Json{{"label", Json::array({"io.skiff.agent=" + deviceId})}}));
  SKIFF_ASSIGN_OR_RETURN(auto r,
                         httpGet("http://d/v1.40/containers/json?all=true&filters=" + filter, {},
                                 engineOf(deviceId).socketPath()));
  if (r.status != 200) return common::unavailable("podman list: HTTP " + std::to_string(r.status));
  auto j = common::parseJson(r.body);
  if (!j.isOk() || !j->is_array()) return common::internalError("bad list reply: " + r.body);
  std::vector<Json> out;
  for (const auto& c : *j) {
    // Podman honours the filter; checked again so a test can never count foreign containers.
    if (c["Labels"].value("io.skiff.agent", "") == deviceId) out.push_back(c);
  }
  return out;
}

Result<std::vector<Json>> System::moduleContainers(const std::string& deviceId,
                                                   const std::string& module) {
  SKIFF_ASSIGN_OR_RETURN(auto all, containers(deviceId));
  std::vector<Json> out;
  for (const auto& c : all) {
    if (c["Labels"].value("io.skiff.module", "") == module) out.push_back(c);
  }
  return out;
}

std::vector<std::string> System::runningModules(const std::string& deviceId) {
  std::vector<std::string> out;
  auto all = containers(deviceId);
  if (!all.isOk()) return out;
  for (const auto& c : *all) {
    std::string module = c["Labels"].value("io.skiff.module", "");
    if (c.value("State", "") == "running" && !module.empty()) out.push_back(module);  // no infra
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<Json> System::getJson(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"get"};
  a.insert(a.end(), args.begin(), args.end());
  a.insert(a.end(), {"-o", "json"});
  SKIFF_ASSIGN_OR_RETURN(std::string out, kubectl_->ok(a));
  auto j = common::parseJson(out);
  if (!j.isOk()) return common::internalError("kubectl output is not JSON: " + out);
  return std::move(*j);
}

std::vector<Json> System::pods(const std::string& prefix) {
  std::vector<Json> out;
  auto list = getJson({"pods"});
  if (!list.isOk()) return out;
  for (const auto& p : (*list)["items"]) {
    if (p["metadata"].value("name", "").starts_with(prefix)) out.push_back(p);
  }
  return out;
}

std::vector<std::map<std::string, std::string>> System::podRows() {
  auto out = kubectl_->run({"get", "pods", "-o", "wide"});
  if (!out.isOk() || out->exitCode != 0) return {};
  return parseKubectlTable(out->output).rows;
}

Result<Json> System::device(const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(CommandResult r,
                         skiffctl({"-o", "json", "device", "get", id}, std::chrono::seconds(20)));
  if (r.exitCode != 0) return common::unavailable("skiffctl device get: " + r.output);
  auto brace = r.output.find('{');
  if (brace == std::string::npos) return common::internalError("no JSON: " + r.output);
  return common::parseJson(r.output.substr(brace));
}

bool System::deviceOnline(const std::string& id) {
  auto d = device(id);
  return d.isOk() && d->value("online", false) && d->contains("reported") &&
         !(*d)["reported"].is_null();
}

Result<Json> System::hubDeployments() {
  HttpRequest req;
  req.url = hub_->httpsUrl() + "/api/v1/deployments";
  req.caFile = hub_->caFile();
  req.headers = {"Authorization: Bearer " + hub_->readerToken()};
  SKIFF_ASSIGN_OR_RETURN(HttpResponse r, httpRequest(req));
  if (r.status != 200) {
    return common::unavailable("GET /api/v1/deployments: HTTP " + std::to_string(r.status) + " " +
                               r.body);
  }
  return common::parseJson(r.body);
}

bool System::nodeReady(const std::string& node) {
  auto n = getJson({"node", node});
  if (!n.isOk()) return false;
  for (const auto& c : (*n)["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

std::string System::diagnostics() {
  std::string s;
  if (kubectl_ && cp_ && cp_->isRunning()) {
    auto pods = kubectl_->run({"get", "pods", "-A", "-o", "wide"});
    if (pods.isOk()) s += "--- kubectl get pods -A -o wide\n" + pods->output;
    auto nodes = kubectl_->run({"get", "nodes", "-o", "wide"});
    if (nodes.isOk()) s += "--- kubectl get nodes -o wide\n" + nodes->output;
    auto ev = kubectl_->run({"get", "events", "-A"});
    if (ev.isOk()) s += "--- kubectl get events -A\n" + tail(ev->output, 4000);
  }
  if (hub_ && hub_->hubRunning()) {
    auto deps = hubDeployments();
    s += "--- hub deployments\n" +
         (deps.isOk() ? common::dumpJson(*deps) : deps.status().toString());
    s += "\n";
    auto devs = skiffctl({"device", "list"}, std::chrono::seconds(10));
    if (devs.isOk()) s += "--- skiffctl device list\n" + devs->output;
  }
  if (podman_) {
    auto ps =
        podman_->podman({"ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Image}} {{.Labels}}"},
                        std::chrono::seconds(20));
    if (ps.isOk()) s += "--- podman ps -a\n" + tail(ps->output, 4000);
  }
  for (const auto& [id, a] : agents_) {
    s += "--- agent " + id + " log (tail)\n" + tail(a->log(), 5000) + "\n";
  }
  if (vn_) s += "--- virtual node log (tail)\n" + tail(vn_->logContents(), 8000) + "\n";
  if (cp_) s += "--- control plane log (tail)\n" + tail(cp_->logContents(), 3000) + "\n";
  return s;
}

}  // namespace skiff::test
