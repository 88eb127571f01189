// FakeHub: in-memory test double of the hub's gRPC API (see fake_hub.h).
#include "tests/edge_provider/fake_hub.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/grpc/grpc_status.h"
#include "common/label_selector.h"
#include "common/tls.h"
#include "hub/fleet/desired.h"
#include "hub/fleet/outcome.h"
#include "hub/model.h"
#include "skiff/v1/hub.grpc.pb.h"
#include "tests/support/process.h"

namespace skiff::test {

namespace hubpb = ::skiff::v1;
namespace protocol = common::protocol;
using common::Json;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string nowText() { return common::formatRfc3339(std::chrono::system_clock::now()); }

}  // namespace

common::protocol::DeviceFacts testFacts(const std::string& arch, int cpus, std::int64_t memory) {
  protocol::DeviceFacts f;
  f.arch = arch;
  f.os = "linux";
  f.osRelease = "Debian GNU/Linux 12 (bookworm)";
  f.kernel = "6.1.0-test";
  f.hostname = "host-" + arch;
  f.cpus = cpus;
  f.memoryBytes = memory;
  f.diskBytes = 32LL << 30;
  f.engine = "podman 4.3.1";
  f.engineApiVersion = "1.41";
  f.agentVersion = "0.1.0";
  return f;
}

struct FakeHub::State {
  struct Runtime {
    std::string specHash;
    std::string containerId;
    std::string startedAt;
    int restarts = 0;
  };
  struct DeviceState {
    hubpb::Device device;
    protocol::DeviceFacts facts;
    std::vector<protocol::PodSpec> desired;
    std::vector<protocol::RegistryCredential> credentials;
    // deployment id → {generation, desired version that first carried it}
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> included;
    hub::fleet::DesiredContent content;  // the composed desired state (who wins each pod)
    bool autoReport = true;
    std::optional<Clock::time_point> reportAt;
    std::map<std::string, ModuleBehaviour> behaviours;
    std::optional<protocol::Reported> reported;
    std::int64_t seq = 0;
    std::map<std::string, Runtime> runtime;
    std::map<std::string,
             std::vector<std::pair<std::chrono::system_clock::time_point, std::string>>>
        logs;
  };
  struct DeploymentState {
    hubpb::Deployment d;                 // without status
    hub::fleet::DeploymentPtr compiled;  // the hub's own form, for its desired-state rules
  };
  struct Watcher {
    bool devices = true;
    common::LabelSelector selector;
    std::string id;
    std::set<std::string> members;
    std::deque<std::pair<hubpb::EventType, std::string>> queue;  // serialized object
  };

  FakeHubOptions opts;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, DeviceState> devices;
  std::map<std::string, DeploymentState> deployments;
  std::map<std::string, std::string> publishedDevices;      // id → serialized
  std::map<std::string, std::string> publishedDeployments;  // id → serialized
  std::set<Watcher*> watchers;
  bool brokerConnected = true;
  bool serving = false;
  int applyCalls = 0;
  int deleteCalls = 0;
  int containerCounter = 0;
  bool quit = false;
  std::thread agent;
  std::string caPem;
  std::string serverCert, serverKey;

  // ---- desired state ----

  common::Labels labelsOf(const DeviceState& d) const {
    common::Labels l;
    for (const auto& [k, v] : d.device.labels()) l[k] = v;
    for (const auto& [k, v] : d.device.implicit_labels()) l[k] = v;
    return l;
  }

  bool targets(const DeploymentState& dep, const DeviceState& dev) const {
    auto sel = common::LabelSelector::parse(dep.d.target_selector());
    return sel.isOk() && sel->matches(labelsOf(dev));
  }

  void recomputeLocked() {
    for (auto& [id, dev] : devices) {
      // The hub's own rules (hub/fleet/desired.h): the union of the matching deployments'
      // pods, one per name by priority, then the newer deployment, then the smaller id.
      std::vector<const DeploymentState*> matching;
      std::vector<hub::fleet::DeploymentPtr> compiled;
      for (const auto& [did, dep] : deployments) {
        if (!targets(dep, dev)) continue;
        matching.push_back(&dep);
        compiled.push_back(dep.compiled);
      }
      hub::fleet::DesiredContent content = hub::fleet::composeDesired(compiled);
      std::vector<protocol::PodSpec> desired;
      for (const auto& item : content.pods) {
        desired.push_back(item.deployment->record.spec.pods[item.index]);
      }
      std::vector<protocol::RegistryCredential> creds;
      for (const auto& item : content.credentials) {
        creds.push_back(item.deployment->record.spec.registryCredentials[item.index]);
      }
      bool changed = desired != dev.desired || creds != dev.credentials;
      std::int64_t version = dev.device.desired_version();
      if (changed) {
        version += 1;
        dev.desired = desired;
        dev.credentials = creds;
        dev.device.set_desired_version(version);
        if (dev.autoReport && dev.device.online()) {
          dev.reportAt = Clock::now() + opts.reportDelay;
        }
      }
      std::map<std::string, std::pair<std::int64_t, std::int64_t>> included;
      dev.device.clear_deployment_ids();
      for (const auto* dep : matching) {
        dev.device.add_deployment_ids(dep->d.id());
        auto prev = dev.included.find(dep->d.id());
        // A generation is carried from the first desired version that included it.
        included[dep->d.id()] =
            prev != dev.included.end() && prev->second.first == dep->d.generation()
                ? prev->second
                : std::make_pair(dep->d.generation(), version);
      }
      dev.included = std::move(included);
      dev.content = std::move(content);
    }
    publishLocked();
  }

  // ---- status ----

  hubpb::Deployment withStatusLocked(const DeploymentState& dep) const {
    hubpb::Deployment d = dep.d;
    // Write-only passwords.
    auto creds = common::parseJson(d.registry_credentials_json());
    if (creds.isOk() && creds->is_array()) {
      for (auto& c : *creds) c.erase("password");
      d.set_registry_credentials_json(common::dumpJson(*creds));
    }
    hubpb::DeploymentStatus* st = d.mutable_status();
    for (const auto& [id, dev] : devices) {
      if (!targets(dep, dev)) continue;
      st->set_targeted(st->targeted() + 1);
      // The hub's own rules (hub/fleet/outcome.h).
      hub::fleet::DeviceSide side;
      side.id = id;
      side.online = dev.device.online();
      side.reported = dev.reported ? &*dev.reported : nullptr;
      side.content = &dev.content;
      side.desiredVersion = dev.device.desired_version();
      auto inc = dev.included.find(dep.d.id());
      if (inc != dev.included.end() && inc->second.first == dep.d.generation()) {
        side.requiredVersion = inc->second.second;
      }
      std::uint8_t bits = hub::fleet::deviceOutcome(*dep.compiled, side, st->add_devices());
      if ((bits & hub::fleet::kApplied) != 0) st->set_applied(st->applied() + 1);
      if ((bits & hub::fleet::kRunning) != 0) st->set_running(st->running() + 1);
      if ((bits & hub::fleet::kFailed) != 0) st->set_failed(st->failed() + 1);
      if ((bits & hub::fleet::kOffline) != 0) st->set_offline(st->offline() + 1);
    }
    return d;
  }

  // ---- events ----

  void pushLocked(bool isDevice, const std::string& id, const std::string& serialized,
                  const common::Labels& labels, bool deleted) {
    for (Watcher* w : watchers) {
      if (w->devices != isDevice) continue;
      bool match = !deleted && (w->id.empty() || w->id == id) && w->selector.matches(labels);
      bool member = w->members.contains(id);
      if (match && !member) {
        w->members.insert(id);
        w->queue.emplace_back(hubpb::ADDED, serialized);
      } else if (match) {
        w->queue.emplace_back(hubpb::MODIFIED, serialized);
      } else if (member) {
        w->members.erase(id);
        w->queue.emplace_back(hubpb::DELETED, serialized);
      }
    }
  }

  common::Labels deploymentLabels(const hubpb::Deployment& d) const {
    common::Labels l;
    for (const auto& [k, v] : d.labels()) l[k] = v;
    return l;
  }

  void publishLocked() {
    std::set<std::string> seen;
    for (const auto& [id, dev] : devices) {
      seen.insert(id);
      std::string s = dev.device.SerializeAsString();
      auto& last = publishedDevices[id];
      if (last == s) continue;
      last = s;
      pushLocked(true, id, s, labelsOf(dev), false);
    }
    for (auto it = publishedDevices.begin(); it != publishedDevices.end();) {
      if (seen.contains(it->first)) {
        ++it;
        continue;
      }
      pushLocked(true, it->first, it->second, {}, true);
      it = publishedDevices.erase(it);
    }
    seen.clear();
    for (const auto& [id, dep] : deployments) {
      seen.insert(id);
      hubpb::Deployment d = withStatusLocked(dep);
      std::string s = d.SerializeAsString();
      auto& last = publishedDeployments[id];
      if (last == s) continue;
      last = s;
      pushLocked(false, id, s, deploymentLabels(d), false);
    }
    for (auto it = publishedDeployments.begin(); it != publishedDeployments.end();) {
      if (seen.contains(it->first)) {
        ++it;
        continue;
      }
      pushLocked(false, it->first, it->second, {}, true);
      it = publishedDeployments.erase(it);
    }
    cv.notify_all();
  }

  // ---- the simulated agent ----

  void simulateLocked(DeviceState& dev) {
    protocol::Reported r;
    r.deviceId = dev.device.id();
    r.seq = ++dev.seq;
    r.reportedAt = nowText();
    r.appliedVersion = dev.device.desired_version();
    r.facts = dev.facts;
    std::set<std::string> keep;
    for (const auto& p : dev.desired) {
      protocol::PodStatus ps;
      ps.name = p.name;
      ps.deploymentId = p.deploymentId;
      ps.specHash = protocol::specHash(p);
      ps.podIP = "10.88.0." + std::to_string(2 + keep.size() % 250);
      ps.hostIP = "192.0.2.10";
      ps.initialized = true;
      ps.phase = "Running";
      ps.ready = true;
      bool allExited = !p.containers.empty();
      bool anyFailed = false;
      auto add = [&](const protocol::ContainerSpec& c, protocol::ContainerKind kind) {
        std::string module = protocol::moduleName(p.name, c.name);
        keep.insert(module);
        Runtime& rt = dev.runtime[module];
        std::string hash = common::tls::sha256Hex(common::dumpJson(protocol::toJson(c)));
        if (rt.specHash != hash) {
          rt.specHash = hash;
          rt.containerId = "c" + std::to_string(++containerCounter);
          rt.startedAt = nowText();
          rt.restarts = 0;
        }
        protocol::ModuleStatus s;
        s.name = module;
        s.kind = kind;
        s.deploymentId = p.deploymentId;
        s.specHash = hash;
        s.image = c.image;
        s.imageId = "sha256:" + common::tls::sha256Hex(c.image);
        s.containerId = rt.containerId;
        s.restartCount = rt.restarts;
        s.startedAt = rt.startedAt;
        ModuleBehaviour b =
            dev.behaviours.contains(module) ? dev.behaviours[module] : ModuleBehaviour{};
        if (kind == protocol::ContainerKind::kInit && b.kind == ModuleBehaviour::Kind::kRun) {
          b = ModuleBehaviour{ModuleBehaviour::Kind::kExit, 0};  // init containers complete
        }
        switch (b.kind) {
          case ModuleBehaviour::Kind::kRun:
          case ModuleBehaviour::Kind::kNotReady:
            s.state = protocol::ModuleState::kRunning;
            s.ready = b.kind == ModuleBehaviour::Kind::kRun;
            s.started = true;
            s.health = c.livenessProbe ? protocol::Health::kHealthy : protocol::Health::kUnknown;
            break;
          case ModuleBehaviour::Kind::kCrashLoop:
            s.state = protocol::ModuleState::kWaiting;
            s.reason = "CrashLoopBackOff";
            s.message = "back-off 10s restarting failed container";
            s.lastTermination = protocol::Termination{1, "Error", rt.startedAt, nowText()};
            break;
          case ModuleBehaviour::Kind::kPullError:
            s.state = protocol::ModuleState::kWaiting;
            s.reason = "ErrImagePull";
            s.message = "pull access denied for " + c.image;
            s.containerId.clear();
            s.imageId.clear();
            break;
          case ModuleBehaviour::Kind::kExit:
            s.state = protocol::ModuleState::kTerminated;
            s.exitCode = b.exitCode;
            s.reason = b.exitCode == 0 ? "Completed" : "Error";
            s.finishedAt = nowText();
            s.ready = kind == protocol::ContainerKind::kInit && b.exitCode == 0;
            break;
        }
        if (kind == protocol::ContainerKind::kContainer) {
          if (s.state != protocol::ModuleState::kRunning || !s.ready) ps.ready = false;
          if (s.state == protocol::ModuleState::kWaiting && s.restartCount == 0 &&
              !s.lastTermination) {
            ps.phase = "Pending";
          }
          if (s.state != protocol::ModuleState::kTerminated) allExited = false;
          if (s.state == protocol::ModuleState::kTerminated && s.exitCode.value_or(0) != 0) {
            anyFailed = true;
          }
        }
        r.modules.push_back(std::move(s));
      };
      for (const auto& c : p.initContainers) {
        add(c, protocol::isSidecar(c) ? protocol::ContainerKind::kSidecar
                                      : protocol::ContainerKind::kInit);
      }
      for (const auto& c : p.containers) add(c, protocol::ContainerKind::kContainer);
      if (allExited && p.restartPolicy != protocol::RestartPolicy::kAlways) {
        ps.phase = anyFailed && p.restartPolicy == protocol::RestartPolicy::kNever ? "Failed"
                                                                                   : "Succeeded";
        ps.ready = false;
      }
      r.pods.push_back(std::move(ps));
    }
    for (auto it = dev.runtime.begin(); it != dev.runtime.end();) {
      it = keep.contains(it->first) ? std::next(it) : dev.runtime.erase(it);
    }
    applyReportLocked(dev, r);
  }

  void applyReportLocked(DeviceState& dev, const protocol::Reported& r) {
    dev.reported = r;
    dev.facts = r.facts;
    dev.device.set_applied_version(r.appliedVersion);
    dev.device.set_reported_json(common::dumpJson(protocol::toJson(r)));
    dev.device.set_last_seen_unix_ms(nowMs());
    if (!r.facts.arch.empty())
      (*dev.device.mutable_implicit_labels())["skiff.io/arch"] = r.facts.arch;
  }

  void agentLoop() {
    auto lastCrash = Clock::now();
    std::unique_lock lock(mu);
    while (!quit) {
      cv.wait_for(lock, std::chrono::milliseconds(20));
      bool changed = false;
      auto now = Clock::now();
      bool crashTick = now - lastCrash >= opts.crashInterval;
      if (crashTick) lastCrash = now;
      for (auto& [id, dev] : devices) {
        if (!dev.device.online()) continue;
        if (dev.reportAt && *dev.reportAt <= now) {
          dev.reportAt.reset();
          simulateLocked(dev);
          changed = true;
          continue;
        }
        if (crashTick && dev.autoReport && dev.reported &&
            dev.device.applied_version() == dev.device.desired_version()) {
          bool crashing = false;
          for (auto& [module, b] : dev.behaviours) {
            if (b.kind == ModuleBehaviour::Kind::kCrashLoop && dev.runtime.contains(module)) {
              dev.runtime[module].restarts++;
              crashing = true;
            }
          }
          if (crashing) {
            simulateLocked(dev);
            changed = true;
          }
        }
      }
      if (changed) publishLocked();
    }
  }
};

// ---- the gRPC service ---------------------------------------------------------------------

class FakeHub::Service final : public hubpb::Hub::Service {
 public:
  explicit Service(std::shared_ptr<State> s) : s_(std::move(s)) {}

  grpc::Status auth(grpc::ServerContext* ctx, bool write) {
    auto md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) return {grpc::StatusCode::UNAUTHENTICATED, "missing bearer token"};
    std::string v(it->second.data(), it->second.size());
    if (v == "Bearer " + s_->opts.adminToken) return grpc::Status::OK;
    if (v == "Bearer " + s_->opts.readerToken) {
      return write ? grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "reader may not write")
                   : grpc::Status::OK;
    }
    return {grpc::StatusCode::UNAUTHENTICATED, "unknown token"};
  }

  grpc::Status CreateDevice(grpc::ServerContext* ctx, const hubpb::CreateDeviceRequest* req,
                            hubpb::Device* out) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    if (auto s = protocol::validateDeviceId(req->id()); !s.isOk()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "id: " + s.message()};
    }
    std::lock_guard lock(s_->mu);
    if (s_->devices.contains(req->id())) {
      return {grpc::StatusCode::ALREADY_EXISTS, "device \"" + req->id() + "\" already exists"};
    }
    auto& d = s_->devices[req->id()];
    d.device.set_id(req->id());
    *d.device.mutable_labels() = req->labels();
    (*d.device.mutable_implicit_labels())["skiff.io/device-id"] = req->id();
    d.device.set_created_at_unix_ms(nowMs());
    s_->recomputeLocked();
    *out = d.device;
    return grpc::Status::OK;
  }

  grpc::Status GetDevice(grpc::ServerContext* ctx, const hubpb::GetDeviceRequest* req,
                         hubpb::Device* out) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    auto it = s_->devices.find(req->id());
    if (it == s_->devices.end()) {
      return {grpc::StatusCode::NOT_FOUND, "device \"" + req->id() + "\" not found"};
    }
    *out = it->second.device;
    return grpc::Status::OK;
  }

  grpc::Status ListDevices(grpc::ServerContext* ctx, const hubpb::ListDevicesRequest* req,
                           hubpb::ListDevicesResponse* out) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    auto sel = common::LabelSelector::parse(req->label_selector());
    if (!sel.isOk()) return {grpc::StatusCode::INVALID_ARGUMENT, sel.status().message()};
    std::lock_guard lock(s_->mu);
    for (const auto& [id, d] : s_->devices) {
      if (sel->matches(s_->labelsOf(d))) *out->add_devices() = d.device;
    }
    return grpc::Status::OK;
  }

  grpc::Status UpdateDeviceLabels(grpc::ServerContext* ctx,
                                  const hubpb::UpdateDeviceLabelsRequest* req,
                                  hubpb::Device* out) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    for (const auto& [k, v] : req->labels()) {
      if (k.starts_with("skiff.io/")) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "labels: " + k + " is an implicit label"};
      }
    }
    std::lock_guard lock(s_->mu);
    auto it = s_->devices.find(req->id());
    if (it == s_->devices.end()) return {grpc::StatusCode::NOT_FOUND, "device not found"};
    *it->second.device.mutable_labels() = req->labels();
    s_->recomputeLocked();
    *out = it->second.device;
    return grpc::Status::OK;
  }

  grpc::Status DeleteDevice(grpc::ServerContext* ctx, const hubpb::DeleteDeviceRequest* req,
                            hubpb::DeleteResponse*) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    if (s_->devices.erase(req->id()) == 0) return {grpc::StatusCode::NOT_FOUND, "device not found"};
    s_->recomputeLocked();
    return grpc::Status::OK;
  }

  grpc::Status CreateEnrollmentToken(grpc::ServerContext* ctx,
                                     const hubpb::CreateEnrollmentTokenRequest* req,
                                     hubpb::EnrollmentToken* out) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    if (!s_->devices.contains(req->device_id())) {
      return {grpc::StatusCode::NOT_FOUND, "device not found"};
    }
    out->set_token("enroll-" + req->device_id());
    out->set_device_id(req->device_id());
    out->set_expires_at_unix_ms(nowMs() + 3600 * 1000);
    return grpc::Status::OK;
  }

  grpc::Status ApplyDeployment(grpc::ServerContext* ctx, const hubpb::ApplyDeploymentRequest* req,
                               hubpb::Deployment* out) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    const hubpb::Deployment& in = req->deployment();
    // The hub's own validation and normalization (hub/model.h).
    hub::DeploymentInput input;
    input.id = in.id();
    for (const auto& [k, v] : in.labels()) input.labels[k] = v;
    for (const auto& [k, v] : in.annotations()) input.annotations[k] = v;
    input.targetSelector = in.target_selector();
    input.priority = in.priority();
    input.podsJson = in.pods_json();
    input.modulesJson = in.modules_json();
    input.registryCredentialsJson = in.registry_credentials_json();
    auto spec = hub::validateDeployment(input);
    if (!spec.isOk()) return common::grpc_status::toGrpc(spec.status());
    std::lock_guard lock(s_->mu);
    ++s_->applyCalls;
    auto it = s_->deployments.find(in.id());
    hubpb::Deployment next = in;
    next.clear_status();
    next.clear_modules_json();
    next.set_target_selector(spec->targetSelector);
    next.set_registry_credentials_json(
        common::dumpJson(hub::credentialsToJson(spec->registryCredentials, true)));
    Json normalized = Json::array();
    for (const auto& m : spec->pods) normalized.push_back(protocol::toJson(m));
    next.set_pods_json(common::dumpJson(normalized));
    std::int64_t now = nowMs();
    if (it == s_->deployments.end()) {
      next.set_generation(1);
      next.set_created_at_unix_ms(now);
      next.set_updated_at_unix_ms(now);
      s_->deployments[in.id()] = State::DeploymentState{next, nullptr};
    } else {
      hubpb::Deployment& cur = it->second.d;
      // As the hub: an identical spec (labels and annotations included) changes nothing; any
      // difference is a new generation.
      if (it->second.compiled && it->second.compiled->record.spec == *spec) {
        *out = s_->withStatusLocked(it->second);
        return grpc::Status::OK;
      } else {
        next.set_generation(cur.generation() + 1);
        next.set_created_at_unix_ms(cur.created_at_unix_ms());
        next.set_updated_at_unix_ms(now);
        it->second = State::DeploymentState{next, nullptr};
      }
    }
    auto& stored = s_->deployments[in.id()];
    hub::DeploymentRecord record{*spec, stored.d.generation(), stored.d.created_at_unix_ms(),
                                 stored.d.updated_at_unix_ms()};
    auto compiled = hub::fleet::compileDeployment(std::move(record));
    if (!compiled.isOk()) return common::grpc_status::toGrpc(compiled.status());
    stored.compiled = std::move(*compiled);
    s_->recomputeLocked();
    *out = s_->withStatusLocked(stored);
    return grpc::Status::OK;
  }

  grpc::Status GetDeployment(grpc::ServerContext* ctx, const hubpb::GetDeploymentRequest* req,
                             hubpb::Deployment* out) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    auto it = s_->deployments.find(req->id());
    if (it == s_->deployments.end()) {
      return {grpc::StatusCode::NOT_FOUND, "deployment \"" + req->id() + "\" not found"};
    }
    *out = s_->withStatusLocked(it->second);
    return grpc::Status::OK;
  }

  grpc::Status ListDeployments(grpc::ServerContext* ctx, const hubpb::ListDeploymentsRequest* req,
                               hubpb::ListDeploymentsResponse* out) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    auto sel = common::LabelSelector::parse(req->label_selector());
    if (!sel.isOk()) return {grpc::StatusCode::INVALID_ARGUMENT, sel.status().message()};
    std::lock_guard lock(s_->mu);
    for (const auto& [id, d] : s_->deployments) {
      if (sel->matches(s_->deploymentLabels(d.d)))
        *out->add_deployments() = s_->withStatusLocked(d);
    }
    return grpc::Status::OK;
  }

  grpc::Status DeleteDeployment(grpc::ServerContext* ctx, const hubpb::DeleteDeploymentRequest* req,
                                hubpb::DeleteResponse*) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    ++s_->deleteCalls;
    if (s_->deployments.erase(req->id()) == 0) {
      return {grpc::StatusCode::NOT_FOUND, "deployment \"" + req->id() + "\" not found"};
    }
    s_->recomputeLocked();
    return grpc::Status::OK;
  }

  grpc::Status GetFleetStatus(grpc::ServerContext* ctx, const hubpb::GetFleetStatusRequest*,
                              hubpb::FleetStatus* out) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    out->set_devices(static_cast<int>(s_->devices.size()));
    for (const auto& [id, d] : s_->devices) {
      if (d.device.enrolled()) out->set_enrolled(out->enrolled() + 1);
      if (!d.device.online()) continue;
      out->set_online(out->online() + 1);
      out->set_cpu_millis(out->cpu_millis() + d.facts.cpus * 1000LL);
      out->set_memory_bytes(out->memory_bytes() + d.facts.memoryBytes);
      out->set_disk_bytes(out->disk_bytes() + d.facts.diskBytes);
    }
    out->set_deployments(static_cast<int>(s_->deployments.size()));
    out->set_broker_connected(s_->brokerConnected);
    out->set_broker_url("mqtts://127.0.0.1:8883");
    return grpc::Status::OK;
  }

  template <typename Event>
  grpc::Status watch(grpc::ServerContext* ctx, const hubpb::WatchRequest* req, bool devices,
                     grpc::ServerWriter<Event>* writer) {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    auto sel = common::LabelSelector::parse(req->label_selector());
    if (!sel.isOk()) return {grpc::StatusCode::INVALID_ARGUMENT, sel.status().message()};
    State::Watcher w;
    w.devices = devices;
    w.selector = *sel;
    w.id = req->id();
    std::vector<std::pair<hubpb::EventType, std::string>> initial;
    {
      std::lock_guard lock(s_->mu);
      if (devices) {
        for (const auto& [id, d] : s_->devices) {
          if ((w.id.empty() || w.id == id) && w.selector.matches(s_->labelsOf(d))) {
            w.members.insert(id);
            initial.emplace_back(hubpb::ADDED, s_->publishedDevices.contains(id)
                                                   ? s_->publishedDevices[id]
                                                   : d.device.SerializeAsString());
          }
        }
      } else {
        for (const auto& [id, d] : s_->deployments) {
          if ((w.id.empty() || w.id == id) && w.selector.matches(s_->deploymentLabels(d.d))) {
            w.members.insert(id);
            initial.emplace_back(hubpb::ADDED, s_->withStatusLocked(d).SerializeAsString());
          }
        }
      }
      initial.emplace_back(hubpb::SYNCED, "");
      s_->watchers.insert(&w);
    }
    auto send = [&](hubpb::EventType type, const std::string& serialized) {
      Event ev;
      ev.set_type(type);
      if constexpr (std::is_same_v<Event, hubpb::DeviceEvent>) {
        if (!serialized.empty()) ev.mutable_device()->ParseFromString(serialized);
      } else {
        if (!serialized.empty()) ev.mutable_deployment()->ParseFromString(serialized);
      }
      return writer->Write(ev);
    };
    bool ok = true;
    for (const auto& [t, s] : initial) ok = ok && send(t, s);
    while (ok) {
      std::pair<hubpb::EventType, std::string> next;
      {
        std::unique_lock lock(s_->mu);
        s_->cv.wait_for(lock, std::chrono::milliseconds(50),
                        [&] { return !w.queue.empty() || !s_->serving; });
        if (!s_->serving || ctx->IsCancelled()) break;
        if (w.queue.empty()) continue;
        next = std::move(w.queue.front());
        w.queue.pop_front();
      }
      ok = send(next.first, next.second);
    }
    std::lock_guard lock(s_->mu);
    s_->watchers.erase(&w);
    if (!s_->serving) return {grpc::StatusCode::UNAVAILABLE, "hub shutting down"};
    return grpc::Status::OK;
  }

  grpc::Status WatchDevices(grpc::ServerContext* ctx, const hubpb::WatchRequest* req,
                            grpc::ServerWriter<hubpb::DeviceEvent>* writer) override {
    return watch(ctx, req, true, writer);
  }

  grpc::Status WatchDeployments(grpc::ServerContext* ctx, const hubpb::WatchRequest* req,
                                grpc::ServerWriter<hubpb::DeploymentEvent>* writer) override {
    return watch(ctx, req, false, writer);
  }

  grpc::Status StreamLogs(grpc::ServerContext* ctx, const hubpb::LogsRequest* req,
                          grpc::ServerWriter<hubpb::LogChunk>* writer) override {
    if (auto a = auth(ctx, false); !a.ok()) return a;
    std::size_t sent = 0;
    std::vector<std::string> chunks;
    {
      std::lock_guard lock(s_->mu);
      auto it = s_->devices.find(req->device_id());
      if (it == s_->devices.end()) {
        return {grpc::StatusCode::NOT_FOUND, "device \"" + req->device_id() + "\" not found"};
      }
      auto& dev = it->second;
      if (!dev.device.online()) {
        return {grpc::StatusCode::UNAVAILABLE, "device \"" + req->device_id() + "\" is offline"};
      }
      bool known = false;
      if (dev.reported) {
        for (const auto& m : dev.reported->modules) known = known || m.name == req->module();
      }
      if (!known) {
        return {grpc::StatusCode::NOT_FOUND, "module \"" + req->module() +
                                                 "\" is not running on device \"" +
                                                 req->device_id() + "\""};
      }
      const auto& lines = dev.logs[req->module()];
      std::size_t first = 0;
      if (req->tail_lines() > 0 && lines.size() > static_cast<std::size_t>(req->tail_lines())) {
        first = lines.size() - static_cast<std::size_t>(req->tail_lines());
      }
      auto since = std::chrono::system_clock::now() - std::chrono::seconds(req->since_seconds());
      for (std::size_t i = first; i < lines.size(); ++i) {
        if (req->since_seconds() > 0 && lines[i].first < since) continue;
        chunks.push_back(
            (req->timestamps() ? common::formatRfc3339Micro(lines[i].first) + " " : "") +
            lines[i].second);
      }
      sent = lines.size();
    }
    for (const auto& c : chunks) {
      hubpb::LogChunk chunk;
      chunk.set_data(c);
      if (!writer->Write(chunk)) return grpc::Status::OK;
    }
    if (!req->follow()) return grpc::Status::OK;
    auto end = std::chrono::steady_clock::now() + std::chrono::hours(1);
    while (std::chrono::steady_clock::now() < end) {
      std::vector<std::string> more;
      {
        std::unique_lock lock(s_->mu);
        s_->cv.wait_for(lock, std::chrono::milliseconds(50));
        if (!s_->serving || ctx->IsCancelled()) break;
        auto it = s_->devices.find(req->device_id());
        if (it == s_->devices.end() || !it->second.device.online()) break;
        const auto& lines = it->second.logs[req->module()];
        for (; sent < lines.size(); ++sent) {
          more.push_back(
              (req->timestamps() ? common::formatRfc3339Micro(lines[sent].first) + " " : "") +
              lines[sent].second);
        }
      }
      for (const auto& c : more) {
        hubpb::LogChunk chunk;
        chunk.set_data(c);
        if (!writer->Write(chunk)) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status RestartModule(grpc::ServerContext* ctx, const hubpb::RestartModuleRequest* req,
                             hubpb::RestartModuleResponse*) override {
    if (auto a = auth(ctx, true); !a.ok()) return a;
    std::lock_guard lock(s_->mu);
    auto it = s_->devices.find(req->device_id());
    if (it == s_->devices.end()) return {grpc::StatusCode::NOT_FOUND, "device not found"};
    if (!it->second.device.online()) return {grpc::StatusCode::UNAVAILABLE, "device offline"};
    auto rt = it->second.runtime.find(req->module());
    if (rt == it->second.runtime.end()) return {grpc::StatusCode::NOT_FOUND, "module not found"};
    rt->second.restarts++;
    s_->simulateLocked(it->second);
    s_->publishLocked();
    return grpc::Status::OK;
  }

  void serve() {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({s_->serverKey, s_->serverCert});
    grpc::ServerBuilder b;
    int selected = 0;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::SslServerCredentials(ssl),
                       &selected);
    b.RegisterService(this);
    {
      std::lock_guard lock(s_->mu);
      s_->serving = true;
    }
    server = b.BuildAndStart();
    if (server && selected > 0) port = selected;
  }

  void shutdown() {
    {
      std::lock_guard lock(s_->mu);
      s_->serving = false;
      s_->cv.notify_all();
    }
    if (server) {
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server->Wait();
      server.reset();
    }
  }

  std::shared_ptr<State> s_;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// ---- FakeHub ------------------------------------------------------------------------------

Result<std::unique_ptr<FakeHub>> FakeHub::start(FakeHubOptions opts) {
  std::unique_ptr<FakeHub> hub(new FakeHub());
  hub->state_ = std::make_shared<State>();
  hub->state_->opts = opts;
  SKIFF_ASSIGN_OR_RETURN(auto ca, common::tls::CertificateAuthority::create("fake-hub-ca"));
  common::tls::IssueOptions io;
  io.commonName = "fake-hub";
  io.dnsNames = {"localhost"};
  io.ipAddresses = {"127.0.0.1"};
  io.usage = common::tls::CertUsage::kServer;
  SKIFF_ASSIGN_OR_RETURN(auto kc, ca.issueNew(io));
  SKIFF_ASSIGN_OR_RETURN(hub->state_->caPem, ca.certificate().toPem());
  SKIFF_ASSIGN_OR_RETURN(hub->state_->serverCert, kc.cert.toPem());
  SKIFF_ASSIGN_OR_RETURN(hub->state_->serverKey, kc.key.toPem());
  hub->service_ = std::make_unique<Service>(hub->state_);
  if (opts.port == 0) {
    SKIFF_ASSIGN_OR_RETURN(hub->service_->port, freeLoopbackPort());
  } else {
    hub->service_->port = opts.port;
  }
  SKIFF_RETURN_IF_ERROR(hub->startServer());
  State* s = hub->state_.get();
  s->agent = std::thread([s] { s->agentLoop(); });
  return hub;
}

FakeHub::~FakeHub() {
  stopServer();
  {
    std::lock_guard lock(state_->mu);
    state_->quit = true;
    state_->cv.notify_all();
  }
  if (state_->agent.joinable()) state_->agent.join();
}

std::string FakeHub::address() const { return "127.0.0.1:" + std::to_string(port()); }
int FakeHub::port() const { return service_->port; }
const std::string& FakeHub::caPem() const { return state_->caPem; }
const std::string& FakeHub::adminToken() const { return state_->opts.adminToken; }
const std::string& FakeHub::readerToken() const { return state_->opts.readerToken; }

void FakeHub::stopServer() { service_->shutdown(); }

Status FakeHub::startServer() {
  if (service_->server) return Status::ok();
  service_->serve();
  if (!service_->server) {
    return common::unavailable("fake hub: cannot listen on 127.0.0.1:" + std::to_string(port()));
  }
  return Status::ok();
}

Status FakeHub::restartServer() {
  stopServer();
  return startServer();
}

void FakeHub::addDevice(const std::string& id, const std::map<std::string, std::string>& labels,
                        const protocol::DeviceFacts& facts, bool online) {
  std::lock_guard lock(state_->mu);
  auto& d = state_->devices[id];
  d.device.set_id(id);
  d.device.mutable_labels()->clear();
  for (const auto& [k, v] : labels) (*d.device.mutable_labels())[k] = v;
  (*d.device.mutable_implicit_labels())["skiff.io/device-id"] = id;
  if (!facts.arch.empty()) (*d.device.mutable_implicit_labels())["skiff.io/arch"] = facts.arch;
  d.device.set_created_at_unix_ms(nowMs());
  d.device.set_enrolled(true);
  d.device.set_certificate_serial("01");
  d.device.set_online(online);
  d.device.set_last_seen_unix_ms(nowMs());
  d.facts = facts;
  // An agent reports its facts as soon as it connects.
  protocol::Reported r;
  r.deviceId = id;
  r.seq = ++d.seq;
  r.reportedAt = nowText();
  r.facts = facts;
  state_->applyReportLocked(d, r);
  state_->recomputeLocked();
}

void FakeHub::removeDevice(const std::string& id) {
  std::lock_guard lock(state_->mu);
  state_->devices.erase(id);
  state_->recomputeLocked();
}

void FakeHub::setOnline(const std::string& id, bool online) {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(id);
  if (it == state_->devices.end()) return;
  it->second.device.set_online(online);
  if (online) {
    it->second.device.set_last_seen_unix_ms(nowMs());
    if (it->second.autoReport) it->second.reportAt = Clock::now() + state_->opts.reportDelay;
  }
  state_->publishLocked();
}

void FakeHub::setLabels(const std::string& id, const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(id);
  if (it == state_->devices.end()) return;
  it->second.device.mutable_labels()->clear();
  for (const auto& [k, v] : labels) (*it->second.device.mutable_labels())[k] = v;
  state_->recomputeLocked();
}

void FakeHub::setAutoReport(const std::string& id, bool on) {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(id);
  if (it != state_->devices.end()) it->second.autoReport = on;
}

void FakeHub::setBehaviour(const std::string& id, const std::string& module, ModuleBehaviour b) {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(id);
  if (it == state_->devices.end()) return;
  it->second.behaviours[module] = b;
  if (it->second.autoReport && it->second.device.online()) {
    it->second.reportAt = Clock::now() + state_->opts.reportDelay;
  }
}

void FakeHub::report(const std::string& id, const protocol::Reported& r) {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(id);
  if (it == state_->devices.end()) return;
  state_->applyReportLocked(it->second, r);
  state_->publishLocked();
}

void FakeHub::appendLog(const std::string& id, const std::string& module, const std::string& text) {
  std::lock_guard lock(state_->mu);
  auto& lines = state_->devices[id].logs[module];
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.emplace_back(std::chrono::system_clock::now(), text.substr(start, end - start));
    start = end;
  }
  state_->cv.notify_all();
}

void FakeHub::setBrokerConnected(bool connected) {
  std::lock_guard lock(state_->mu);
  state_->brokerConnected = connected;
}

std::optional<hubpb::Deployment> FakeHub::deployment(const std::string& id) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->deployments.find(id);
  if (it == state_->deployments.end()) return std::nullopt;
  return state_->withStatusLocked(it->second);
}

std::vector<hubpb::Deployment> FakeHub::deployments() const {
  std::lock_guard lock(state_->mu);
  std::vector<hubpb::Deployment> out;
  for (const auto& [id, d] : state_->deployments) out.push_back(state_->withStatusLocked(d));
  return out;
}

std::vector<protocol::PodSpec> FakeHub::desiredPods(const std::string& deviceId) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(deviceId);
  return it == state_->devices.end() ? std::vector<protocol::PodSpec>{} : it->second.desired;
}

std::int64_t FakeHub::desiredVersion(const std::string& deviceId) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(deviceId);
  return it == state_->devices.end() ? 0 : it->second.device.desired_version();
}

std::optional<protocol::Reported> FakeHub::reported(const std::string& deviceId) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->devices.find(deviceId);
  return it == state_->devices.end() ? std::nullopt : it->second.reported;
}

int FakeHub::applyCalls() const {
  std::lock_guard lock(state_->mu);
  return state_->applyCalls;
}

int FakeHub::deleteCalls() const {
  std::lock_guard lock(state_->mu);
  return state_->deleteCalls;
}

}  // namespace skiff::test
