// Fleet: the hub's state and its rules, shared by every API. It owns the in-memory view of
// devices, deployments, twins and desired documents (loaded from the Store at start, written
// through on every operator change), the label index and target sets, the desired-state
// reconciler, the reported-side ingest, deployment status aggregation, fleet events and the
// change feed watchers read.
//
// Threading: every public method is thread-safe. Operator mutations are serialized among
// themselves and return once the change is durable in the Store; reads never wait for the
// Store. Ingest (called on the MQTT callback thread) only touches memory and queues
// write-behind. The reconciler thread composes, versions and signs desired documents and hands
// them to the DesiredSink (the MQTT publisher); the sink reports acknowledged documents back
// through onPublished(), and only then are they recorded as published.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/label_selector.h"
#include "common/protocol/protocol.h"
#include "common/status.h"
#include "common/store/store.h"
#include "common/tls.h"
#include "hub/fleet/change_feed.h"
#include "hub/fleet/desired.h"
#include "hub/fleet/fleet_event.h"
#include "hub/fleet/label_index.h"
#include "hub/fleet/metrics_history.h"
#include "hub/fleet/store_writer.h"
#include "hub/model.h"
#include "skiff/v1/hub.pb.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::fleet {

// A document for the broker: a signed desired state, or (clear) the deletion of a device's
// retained desired state and its final "offline" presence.
struct DesiredDoc {
  std::string deviceId;
  std::int64_t version = 0;
  std::string payload;   // signed wire form; empty when clear
  DesiredRecord record;  // what to persist once acknowledged
  bool clear = false;
};

// Where the reconciler hands documents (the MQTT publisher). submit() must not block.
class DesiredSink {
 public:
  virtual ~DesiredSink() = default;
  virtual void submit(DesiredDoc doc) = 0;
};

// Certificates the broker must refuse and device ids whose live sessions must be denied.
struct RevocationSnapshot {
  std::vector<RevokedRecord> revoked;   // unexpired entries
  std::set<std::string> deniedDevices;  // revoked ids that are not (re-)registered
};

struct FleetOptions {
  common::store::Store* store = nullptr;
  const common::Clock* clock = &common::SystemClock::instance();
  common::tls::PrivateKey signingKey;
  std::shared_ptr<prometheus::Registry> metrics;  // optional
  std::chrono::seconds metricsResolution{common::protocol::kDefaultMetricsInterval};
  std::chrono::seconds metricsWindow{3600};
  std::size_t maxEvents = 1000;
  std::chrono::milliseconds lastSeenFlushInterval{60000};
  int storeWriterThreads = 16;
  // Versions reserved per persisted ceiling (docs/hub.md "Versioning").
  std::int64_t versionBlock = 10000;
  // Devices composed per state-lock hold in the reconciler.
  std::size_t reconcileChunk = 512;
  // Called (outside the state lock) whenever the revoked set or the denied ids change, so the
  // broker's CRL and ACL can be regenerated. Must not block for long.
  std::function<void()> onRevocationChanged;
};

// Why an MQTT message was refused (for metrics labels).
enum class RejectReason { kMalformed, kOversized, kUnknownDevice, kDeviceMismatch };
struct IngestError {
  RejectReason reason;
  common::Status status;
};

class Fleet {
 public:
  // Loads every record from the store. Internal on corrupt records (naming the key).
  static common::Result<std::unique_ptr<Fleet>> load(FleetOptions options);
  ~Fleet();

  // Starts the reconciler (every device is evaluated once: only changed documents are
  // published) and the periodic flushers. Call once.
  void start(DesiredSink& sink);
  // Stops composing new documents (the first step of a shutdown, so the publisher can drain).
  void quiesce();
  // Stops the threads and flushes write-behind. Idempotent.
  void stop();

  // ---- Devices ----
  common::Result<v1::Device> createDevice(const std::string& id, const Labels& labels);
  common::Result<v1::Device> getDevice(const std::string& id, bool withHistory) const;
  common::Result<std::vector<v1::Device>> listDevices(const std::string& selector) const;
  common::Result<v1::Device> updateDeviceLabels(const std::string& id, const Labels& labels);
  // Deletes the device, records its certificate as revoked, clears its retained state.
  common::Status deleteDevice(const std::string& id);
  bool deviceExists(const std::string& id) const;
  bool deviceOnline(const std::string& id) const;

  // Certificate bookkeeping for enrollment/renewal. revokePrevious: the old certificate is
  // revoked (re-enrollment); otherwise it stays valid until it expires (renewal).
  common::Status recordCertificate(const std::string& id, const std::string& serial,
                                   std::int64_t notAfterMs, bool revokePrevious);
  // Ok if `serial` is the device's current (or previous, not revoked) certificate.
  common::Status checkDeviceCertificate(const std::string& id, const std::string& serial) const;

  // ---- Deployments ----
  common::Result<v1::Deployment> applyDeployment(const DeploymentInput& input);
  // With per-device status.
  common::Result<v1::Deployment> getDeployment(const std::string& id) const;
  // Status counts only (no per-device list).
  common::Result<std::vector<v1::Deployment>> listDeployments(const std::string& selector) const;
  common::Status deleteDeployment(const std::string& id);

  v1::FleetStatus fleetStatus() const;
  void setBroker(bool connected, const std::string& url);
  bool brokerConnected() const;

  // ---- Reported side (MQTT callback thread) ----
  std::optional<IngestError> ingestReported(const std::string& deviceId, std::string_view payload);
  std::optional<IngestError> ingestPresence(const std::string& deviceId, std::string_view payload);
  std::optional<IngestError> ingestMetrics(const std::string& deviceId, std::string_view payload);

  // The sink acknowledges a document (broker PUBACK).
  void onPublished(const DesiredDoc& doc);

  // ---- Events, overview, watchers ----
  std::vector<FleetEvent> events(std::size_t limit, std::uint64_t afterSeq = 0) const;
  // GET /api/v1/overview less `fleet` (docs/hub-api.md "JSON conventions").
  common::Json overview() const;
  ChangeFeed& feed() { return feed_; }
  // Device ids / deployment ids matching a selector (for watch snapshots).
  bool deviceMatches(const std::string& id, const common::LabelSelector& sel) const;
  bool deploymentMatches(const std::string& id, const common::LabelSelector& sel) const;
  std::vector<std::string> deviceIds() const;
  std::vector<std::string> deploymentIds() const;
  // A deployment with status for watch events: per-device list when withDevices.
  common::Result<v1::Deployment> deploymentView(const std::string& id, bool withDevices) const;

  RevocationSnapshot revocationSnapshot() const;
  // The earliest time the reconciler has nothing pending (tests, benchmarks): true when idle.
  bool waitIdle(std::chrono::milliseconds timeout) const;
  // Recompute statistics of the last reconciler pass (benchmarks).
  struct ReconcileStats {
    std::size_t devices = 0;
    std::size_t changed = 0;
    double composeMs = 0;
    double signMs = 0;
  };
  ReconcileStats lastReconcile() const;

 private:
  struct DeviceState;
  struct DeploymentState;
  struct Metrics;

  explicit Fleet(FleetOptions options);
  common::Status loadAll();
  common::Status loadTwins();  // part of loadAll()

  // All below run with mu_ held.
  Labels allLabelsOf(const DeviceState& d) const;
  void indexDevice(DeviceState& d);
  void unindexDevice(DeviceState& d);
  void rematchDevice(DeviceState& d);  // against every deployment
  std::vector<std::string> targetsOf(const DeploymentState& dep) const;
  void markDirty(const std::string& id);
  v1::Device deviceView(const DeviceState& d, bool withHistory) const;
  v1::Deployment deploymentViewLocked(const DeploymentState& dep, bool withDevices) const;
  void deploymentStatusLocked(const DeploymentState& dep, bool withDevices,
                              v1::DeploymentStatus* st) const;
  // One device's outcome for a deployment (Outcome bits); fills detail when given.
  std::uint8_t deviceOutcome(const DeploymentState& dep, const DeviceState& d,
                             v1::DeviceModules* detail) const;
  template <typename F>
  void forEachTarget(const DeploymentState& dep, F&& fn) const;
  // The device's outcome may have changed for every deployment it matches: recount it there.
  void markStatusStale(const DeviceState& d);
  void refreshCounts(const DeploymentState& dep) const;
  // Online, and its last report refuses the desired document or has a failing or unhealthy
  // module (docs/hub-api.md "degraded").
  static bool isDegraded(const DeviceState& d);
  void addEvent(std::string type, std::string reason, std::string message,
                std::string deviceId = "", std::string deploymentId = "");
  void notifyDevice(const DeviceState& d, bool deployments);
  // A report replaced `before`: the device changed, and those of its deployments whose status
  // on it may differ (all of them when a device-wide part changed).
  void notifyReported(const DeviceState& d,
                      const std::optional<common::protocol::Reported>& before);
  void notifyHeartbeat(const DeviceState& d);  // metrics / unchanged report only
  void writeTwin(const DeviceState& d);

  // Ingest helpers: count a refusal; find the (registered) device a message is about.
  std::optional<IngestError> reject(const char* channel, IngestError e);
  DeviceState* ingestTarget(const char* channel, const std::string& deviceId,
                            std::optional<IngestError>& err);

  void reconcileLoop();
  void reconcileBatch(std::vector<std::string> ids);
  common::Status ensureVersionCeiling(std::int64_t needed);
  void flushLoop();
  void flushLastSeen();

  FleetOptions opts_;
  std::string signingPublicKeyPem_;
  std::string signingKeyId_;
  std::unique_ptr<Metrics> metrics_;
  ChangeFeed feed_;
  std::unique_ptr<StoreWriter> writer_;

  std::mutex writeMu_;  // serializes operator mutations (store write + memory update)
  mutable std::mutex mu_;
  std::condition_variable cv_;       // reconciler wake-up
  std::condition_variable flushCv_;  // flusher: stop only
  mutable std::condition_variable idleCv_;
  std::map<std::string, std::unique_ptr<DeviceState>, std::less<>> devices_;
  // devices_ by id, hashed: the per-message lookups (ingest, acknowledgements) walked 13 levels
  // of the tree with a cache miss at each (a tenth of the hub's idle CPU). Keys view record.id.
  std::unordered_map<std::string_view, DeviceState*> byId_;
  int onlineCount_ = 0;  // devices_ with online set, for the gauge
  std::map<std::string, std::unique_ptr<DeploymentState>, std::less<>> deployments_;
  LabelIndex index_;
  std::map<std::string, RevokedRecord> revoked_;  // by serial
  std::set<std::string> dirty_;
  bool reconciling_ = false;
  std::int64_t nextVersion_ = 1;     // next desired version to hand out
  std::int64_t versionCeiling_ = 0;  // persisted: versions below it may have been used
  std::deque<FleetEvent> events_;
  std::uint64_t eventSeq_ = 0;
  bool brokerConnected_ = false;
  std::string brokerUrl_;
  std::set<int> dirtyLastSeenShards_;
  ReconcileStats lastReconcile_;

  DesiredSink* sink_ = nullptr;
  bool stopping_ = false;
  bool quiescing_ = false;
  std::thread reconciler_;
  std::thread flusher_;
};

}  // namespace skiff::hub::fleet
