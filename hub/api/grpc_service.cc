// Hub gRPC service implementation.
#include "hub/api/grpc_service.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <vector>

#include "common/grpc/grpc_status.h"
#include "common/label_selector.h"
#include "common/log.h"
#include "common/token_bucket.h"
#include "hub/api/module_rpc.h"

namespace skiff::hub::api {

using common::Result;
using common::Status;

struct HubService::Metrics {
  prometheus::Family<prometheus::Counter>* calls = nullptr;
};

HubService::HubService(fleet::Fleet& fleet, Enrollment& enrollment, mqtt::RpcClient& rpc,
                       const TokenAuthenticator& tokens, GrpcServiceOptions opts)
    : fleet_(fleet),
      enrollment_(enrollment),
      rpc_(rpc),
      tokens_(tokens),
      opts_(std::move(opts)),
      metrics_(new Metrics) {
  if (opts_.metrics) {
    metrics_->calls = &prometheus::BuildCounter()
                           .Name("skiff_hub_grpc_requests_total")
                           .Help("gRPC calls by method and status code")
                           .Register(*opts_.metrics);
  }
}

HubService::~HubService() = default;

grpc::Status HubService::done(const char* method, const Status& s) {
  if (metrics_->calls) {
    metrics_->calls
        ->Add({{"method", method}, {"code", std::string(common::statusCodeName(s.code()))}})
        .Increment();
  }
  return common::grpc_status::toGrpc(s);
}

Result<Principal> HubService::auth(grpc::ServerContext* ctx, const char* method, bool write) {
  std::string header;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) header.assign(it->second.data(), it->second.size());
  auto p = tokens_.authenticate(header);
  if (!p.isOk()) return p.status();
  if (write) {
    SKIFF_RETURN_IF_ERROR(TokenAuthenticator::requireAdmin(*p, std::string("call ") + method));
  }
  return p;
}

namespace {

// Watch streams send batches: a few at once (the successive changes of one pod's start each
// reach the client without delay), then at most one per watchInterval, so a burst of changes
// is coalesced into few batches. A small batch (one device's pods changing, not a fleet-wide
// deployment's status) counts a fifth: a device starting pods one after another keeps its
// statuses flowing without delay, while large views stay paced.
constexpr double kWatchBurst = 10;
constexpr std::size_t kSmallBatchBytes = 64 * 1024;
constexpr double kSmallBatchCost = 0.2;

void pace(common::TokenBucket& budget, std::size_t batchBytes) {
  budget.take(common::TokenBucket::Clock::now(),
              batchBytes < kSmallBatchBytes ? kSmallBatchCost : 1.0);
  auto wait = budget.delay();
  if (wait > common::TokenBucket::Clock::duration::zero()) std::this_thread::sleep_for(wait);
}

// What one watch stream is about (WatchDevices, WatchDeployments).
template <typename Event, typename Object>
struct WatchStream {
  std::string onlyId;                                  // "": every object
  std::function<std::vector<std::string>()> snapshot;  // the ids there are now
  std::function<bool(fleet::ChangeKind)> wanted;       // the changes that concern these objects
  // The object while it exists and matches the selector; nullopt otherwise.
  std::function<std::optional<Object>(const std::string&)> lookup;
  std::function<Object*(Event&)> field;  // the event's object
  std::function<bool()> over;            // cancelled or stopping
};

// Subscribes to the change feed, sends the snapshot (ADDED per match) and SYNCED, then an event
// per changed object: ADDED, MODIFIED, or DELETED once it is gone or left the selector. Batches
// are paced (pace()); returns when the client goes or the stream is over.
template <typename Event, typename Object>
void streamChanges(fleet::ChangeFeed& feed, grpc::ServerWriter<Event>* writer,
                   const WatchStream<Event, Object>& w, std::chrono::milliseconds interval) {
  auto sub = feed.subscribe();
  std::set<std::string> seen;
  std::size_t bytes = 0;  // sent so far: only a batch that sent something is paced
  auto send = [&](const std::string& id) -> bool {
    if (!w.onlyId.empty() && id != w.onlyId) return true;
    Event ev;
    if (auto obj = w.lookup(id)) {
      ev.set_type(seen.insert(id).second ? v1::ADDED : v1::MODIFIED);
      *w.field(ev) = std::move(*obj);
    } else if (seen.erase(id) > 0) {
      ev.set_type(v1::DELETED);
      w.field(ev)->set_id(id);
    } else {
      return true;
    }
    bytes += std::max<std::size_t>(1, ev.ByteSizeLong());
    return writer->Write(ev);
  };
  bool ok = true;
  for (const auto& id : w.snapshot()) {
    if (!(ok = send(id))) break;
  }
  if (ok) {
    Event synced;
    synced.set_type(v1::SYNCED);
    ok = writer->Write(synced);
  }
  common::TokenBucket budget(kWatchBurst, interval);
  while (ok && !w.over()) {
    auto changes = sub->wait(std::chrono::milliseconds(500));
    std::size_t before = bytes;
    std::set<std::string> sent;
    for (const auto& c : changes) {
      if (!w.wanted(c.kind) || !sent.insert(c.id).second) continue;
      if (!(ok = send(c.id))) break;
    }
    if (bytes > before) pace(budget, bytes - before);
  }
  feed.unsubscribe(sub);
}

common::Labels labelsOf(const google::protobuf::Map<std::string, std::string>& m) {
  common::Labels out;
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

}  // namespace

#define SKIFF_GRPC_AUTH(method, write)        \
  auto principal_ = auth(ctx, method, write); \
  if (!principal_.isOk()) return done(method, principal_.status())

grpc::Status HubService::CreateDevice(grpc::ServerContext* ctx, const v1::CreateDeviceRequest* req,
                                      v1::Device* resp) {
  SKIFF_GRPC_AUTH("CreateDevice", true);
  auto d = fleet_.createDevice(req->id(), labelsOf(req->labels()));
  if (d.isOk()) *resp = std::move(*d);
  return done("CreateDevice", d.status());
}

grpc::Status HubService::GetDevice(grpc::ServerContext* ctx, const v1::GetDeviceRequest* req,
                                   v1::Device* resp) {
  SKIFF_GRPC_AUTH("GetDevice", false);
  auto d = fleet_.getDevice(req->id(), true);
  if (d.isOk()) *resp = std::move(*d);
  return done("GetDevice", d.status());
}

grpc::Status HubService::ListDevices(grpc::ServerContext* ctx, const v1::ListDevicesRequest* req,
                                     v1::ListDevicesResponse* resp) {
  SKIFF_GRPC_AUTH("ListDevices", false);
  auto list = fleet_.listDevices(req->label_selector());
  if (list.isOk()) {
    for (auto& d : *list) *resp->add_devices() = std::move(d);
  }
  return done("ListDevices", list.status());
}

grpc::Status HubService::UpdateDeviceLabels(grpc::ServerContext* ctx,
                                            const v1::UpdateDeviceLabelsRequest* req,
                                            v1::Device* resp) {
  SKIFF_GRPC_AUTH("UpdateDeviceLabels", true);
  auto d = fleet_.updateDeviceLabels(req->id(), labelsOf(req->labels()));
  if (d.isOk()) *resp = std::move(*d);
  return done("UpdateDeviceLabels", d.status());
}

grpc::Status HubService::DeleteDevice(grpc::ServerContext* ctx, const v1::DeleteDeviceRequest* req,
                                      v1::DeleteResponse*) {
  SKIFF_GRPC_AUTH("DeleteDevice", true);
  return done("DeleteDevice", fleet_.deleteDevice(req->id()));
}

grpc::Status HubService::CreateEnrollmentToken(grpc::ServerContext* ctx,
                                               const v1::CreateEnrollmentTokenRequest* req,
                                               v1::EnrollmentToken* resp) {
  SKIFF_GRPC_AUTH("CreateEnrollmentToken", true);
  auto t = enrollment_.createToken(req->device_id(), req->ttl_seconds());
  if (t.isOk()) *resp = std::move(*t);
  return done("CreateEnrollmentToken", t.status());
}

grpc::Status HubService::ApplyDeployment(grpc::ServerContext* ctx,
                                         const v1::ApplyDeploymentRequest* req,
                                         v1::Deployment* resp) {
  SKIFF_GRPC_AUTH("ApplyDeployment", true);
  const v1::Deployment& d = req->deployment();
  DeploymentInput in;
  in.id = d.id();
  in.labels = labelsOf(d.labels());
  in.annotations = labelsOf(d.annotations());
  in.targetSelector = d.target_selector();
  in.priority = d.priority();
  in.podsJson = d.pods_json();
  in.modulesJson = d.modules_json();
  in.registryCredentialsJson = d.registry_credentials_json();
  auto out = fleet_.applyDeployment(in);
  if (out.isOk()) *resp = std::move(*out);
  return done("ApplyDeployment", out.status());
}

grpc::Status HubService::GetDeployment(grpc::ServerContext* ctx,
                                       const v1::GetDeploymentRequest* req, v1::Deployment* resp) {
  SKIFF_GRPC_AUTH("GetDeployment", false);
  auto d = fleet_.getDeployment(req->id());
  if (d.isOk()) *resp = std::move(*d);
  return done("GetDeployment", d.status());
}

grpc::Status HubService::ListDeployments(grpc::ServerContext* ctx,
                                         const v1::ListDeploymentsRequest* req,
                                         v1::ListDeploymentsResponse* resp) {
  SKIFF_GRPC_AUTH("ListDeployments", false);
  auto list = fleet_.listDeployments(req->label_selector());
  if (list.isOk()) {
    for (auto& d : *list) *resp->add_deployments() = std::move(d);
  }
  return done("ListDeployments", list.status());
}

grpc::Status HubService::DeleteDeployment(grpc::ServerContext* ctx,
                                          const v1::DeleteDeploymentRequest* req,
                                          v1::DeleteResponse*) {
  SKIFF_GRPC_AUTH("DeleteDeployment", true);
  return done("DeleteDeployment", fleet_.deleteDeployment(req->id()));
}

grpc::Status HubService::GetFleetStatus(grpc::ServerContext* ctx, const v1::GetFleetStatusRequest*,
                                        v1::FleetStatus* resp) {
  SKIFF_GRPC_AUTH("GetFleetStatus", false);
  *resp = fleet_.fleetStatus();
  return done("GetFleetStatus", Status::ok());
}

grpc::Status HubService::WatchDevices(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                                      grpc::ServerWriter<v1::DeviceEvent>* writer) {
  SKIFF_GRPC_AUTH("WatchDevices", false);
  auto sel = common::LabelSelector::parse(req->label_selector());
  if (!sel.isOk()) return done("WatchDevices", sel.status().withContext("labelSelector"));
  WatchStream<v1::DeviceEvent, v1::Device> w;
  w.onlyId = req->id();
  w.snapshot = [&] { return fleet_.deviceIds(); };
  // (A device may be both changed and heart-beating: one event.)
  w.wanted = [](fleet::ChangeKind k) {
    return k == fleet::ChangeKind::kDevice || k == fleet::ChangeKind::kDeviceHeartbeat;
  };
  w.lookup = [&](const std::string& id) -> std::optional<v1::Device> {
    auto d = fleet_.getDevice(id, false);
    if (!d.isOk() || !fleet_.deviceMatches(id, *sel)) return std::nullopt;
    return std::move(*d);
  };
  w.field = [](v1::DeviceEvent& ev) { return ev.mutable_device(); };
  w.over = [&] { return ctx->IsCancelled() || stopping_.load(); };
  streamChanges(fleet_.feed(), writer, w, opts_.watchInterval);
  return done("WatchDevices", Status::ok());
}

grpc::Status HubService::WatchDeployments(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                                          grpc::ServerWriter<v1::DeploymentEvent>* writer) {
  SKIFF_GRPC_AUTH("WatchDeployments", false);
  auto sel = common::LabelSelector::parse(req->label_selector());
  if (!sel.isOk()) return done("WatchDeployments", sel.status().withContext("labelSelector"));
  WatchStream<v1::DeploymentEvent, v1::Deployment> w;
  w.onlyId = req->id();
  w.snapshot = [&] { return fleet_.deploymentIds(); };
  w.wanted = [](fleet::ChangeKind k) { return k == fleet::ChangeKind::kDeployment; };
  w.lookup = [&](const std::string& id) -> std::optional<v1::Deployment> {
    auto d = fleet_.deploymentView(id, true);
    if (!d.isOk() || !fleet_.deploymentMatches(id, *sel)) return std::nullopt;
    return std::move(*d);
  };
  w.field = [](v1::DeploymentEvent& ev) { return ev.mutable_deployment(); };
  w.over = [&] { return ctx->IsCancelled() || stopping_.load(); };
  streamChanges(fleet_.feed(), writer, w, opts_.watchInterval);
  return done("WatchDeployments", Status::ok());
}

grpc::Status HubService::StreamLogs(grpc::ServerContext* ctx, const v1::LogsRequest* req,
                                    grpc::ServerWriter<v1::LogChunk>* writer) {
  SKIFF_GRPC_AUTH("StreamLogs", false);
  LogsQuery q{req->device_id(),  req->module(),        req->follow(),
              req->tail_lines(), req->since_seconds(), req->timestamps()};
  Status s = streamLogs(
      fleet_, rpc_, q,
      [&](std::string_view data) {
        v1::LogChunk chunk;
        chunk.set_data(std::string(data));
        return writer->Write(chunk);
      },
      [&] { return ctx->IsCancelled() || stopping_.load(); }, opts_.rpcTimeout);
  return done("StreamLogs", s);
}

grpc::Status HubService::RestartModule(grpc::ServerContext* ctx,
                                       const v1::RestartModuleRequest* req,
                                       v1::RestartModuleResponse*) {
  SKIFF_GRPC_AUTH("RestartModule", true);
  return done("RestartModule",
              restartModule(fleet_, rpc_, req->device_id(), req->module(), opts_.restartTimeout));
}

}  // namespace skiff::hub::api
