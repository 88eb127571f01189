// Wiring of skiff-hub: data dir, store, fleet, MQTT, revocation, listeners, lifecycle.
#include "hub/hub.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/http/server.h"
#include "common/log.h"
#include "common/store/etcd/etcd_store.h"
#include "common/store/sqlite_store.h"
#include "common/tls.h"
#include "hub/api/grpc_service.h"
#include "hub/api/rest_api.h"
#include "hub/api/static_files.h"
#include "hub/auth.h"
#include "hub/broker/broker_sync.h"
#include "hub/enrollment.h"
#include "hub/fleet/fleet.h"
#include "hub/mqtt/publisher.h"
#include "hub/mqtt/router.h"
#include "hub/mqtt/rpc_client.h"

namespace skiff::hub {

using common::Result;
using common::Status;

namespace {

std::string defaultDashboardDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "/usr/share/skiff/dashboard";
  return (exe.parent_path().parent_path() / "share" / "skiff" / "dashboard").string();
}

std::string hostForUrl(const std::string& host) {
  std::string h = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host;
  return h.find(':') != std::string::npos ? "[" + h + "]" : h;
}

class HubImpl final : public Hub {
 public:
  ~HubImpl() override { stop(); }

  std::string grpcAddress() const override { return grpcAddress_; }
  std::string httpsUrl() const override { return httpsUrl_; }
  const DataDirLayout& layout() const override { return layout_; }
  fleet::Fleet& fleet() override { return *fleet_; }

  Status init(const Options& o) {
    layout_ = layoutOf(o.dataDir);
    SKIFF_RETURN_IF_ERROR(checkDataDir(layout_));
    SKIFF_ASSIGN_OR_RETURN(std::string caCert, common::readFile(layout_.caCert));
    SKIFF_ASSIGN_OR_RETURN(std::string caKey, common::readFile(layout_.caKey));
    auto ca = common::tls::CertificateAuthority::fromPem(caCert, caKey);
    if (!ca.isOk()) return ca.status().withContext(layout_.caCert);
    ca_ = std::make_unique<common::tls::CertificateAuthority>(std::move(*ca));
    SKIFF_ASSIGN_OR_RETURN(std::string signingPem, common::readFile(layout_.signingKey));
    auto signingKey = common::tls::PrivateKey::fromPem(signingPem);
    if (!signingKey.isOk()) return signingKey.status().withContext(layout_.signingKey);
    SKIFF_ASSIGN_OR_RETURN(std::string signingPub, signingKey->publicKeyPem());
    SKIFF_ASSIGN_OR_RETURN(auto tokens, TokenAuthenticator::fromFile(layout_.tokensFile));
    tokens_ = std::make_unique<TokenAuthenticator>(std::move(tokens));

    if (o.store == "sqlite") {
      common::store::SqliteStoreOptions so;
      so.path = layout_.storeFile;
      SKIFF_ASSIGN_OR_RETURN(auto s, common::store::SqliteStore::open(so));
      store_ = std::move(s);
    } else {
      SKIFF_ASSIGN_OR_RETURN(auto eo, common::store::etcd::parseEtcdUrl(o.store));
      SKIFF_ASSIGN_OR_RETURN(auto s, common::store::etcd::EtcdStore::connect(eo));
      store_ = std::move(s);
    }
    registry_ = std::make_shared<prometheus::Registry>();

    common::tls::TlsFiles mqttTls{layout_.mqttClientCert, layout_.mqttClientKey, layout_.caCert};
    bool secure = o.mqttUrl.starts_with("mqtts://");
    broker::BrokerSyncOptions bo;
    bo.crlFile = layout_.crlFile;
    bo.aclFile = layout_.aclFile;
    bo.pidFile = o.brokerPidFile;
    bo.reloadCommand = o.brokerReloadCommand;
    bo.ca = ca_.get();
    bo.probeDir = layout_.mosquittoDir;
    bo.mqttUrl = o.mqttUrl;
    if (secure) bo.hubTls = mqttTls;
    bo.metrics = registry_;

    fleet::FleetOptions fo;
    fo.store = store_.get();
    fo.signingKey = *signingKey;
    fo.metrics = registry_;
    fo.metricsResolution = std::chrono::duration_cast<std::chrono::seconds>(o.metricsResolution);
    fo.onRevocationChanged = [this] {
      if (brokerSync_) brokerSync_->trigger();
    };
    SKIFF_ASSIGN_OR_RETURN(fleet_, fleet::Fleet::load(std::move(fo)));
    brokerSync_ = std::make_unique<broker::BrokerSync>(
        bo, [f = fleet_.get()] { return f->revocationSnapshot(); });

    common::bus::BusOptions busOpts;
    busOpts.url = o.mqttUrl;
    busOpts.clientId = o.mqttClientId;
    if (secure) busOpts.tls = mqttTls;
    busOpts.cleanStart = false;
    busOpts.maxInflight = o.publishWindow + 64;
    SKIFF_ASSIGN_OR_RETURN(bus_, common::bus::makePahoBus(busOpts));
    rpc_ = std::make_unique<mqtt::RpcClient>(*bus_, registry_);
    router_ = std::make_unique<mqtt::Router>(*fleet_, *rpc_, registry_);
    mqtt::PublisherOptions po;
    po.window = static_cast<std::size_t>(o.publishWindow);
    po.metrics = registry_;
    publisher_ = std::make_unique<mqtt::DesiredPublisher>(
        *bus_, po, [f = fleet_.get()](const fleet::DesiredDoc& d) { f->onPublished(d); });
    std::string url = o.mqttUrl;
    bus_->setHandlers([r = router_.get()](const common::bus::Message& m) { r->onMessage(m); },
                      [p = publisher_.get(), f = fleet_.get(), rpc = rpc_.get(), url](
                          bool up, const std::string&) {
                        p->onConnection(up);
                        f->setBroker(up, url);
                        // Agents' responses may be lost meanwhile (a broker restart loses them;
                        // agents end a stream whose chunk they cannot deliver), so waiting RPCs end
                        // rather than hang.
                        if (!up)
                          rpc->interrupt("",
                                         common::unavailable("the hub lost its broker connection"));
                      });
    for (const auto& filter : mqtt::Router::subscriptions()) {
      SKIFF_RETURN_IF_ERROR(bus_->subscribe(filter, 1));
    }

    SKIFF_ASSIGN_OR_RETURN(common::HostPort grpcListen, common::parseHostPort(o.grpcListen));
    SKIFF_ASSIGN_OR_RETURN(common::HostPort httpListen, common::parseHostPort(o.httpListen));

    // HTTPS first: with port 0 its real port goes into the advertised renewal URL.
    common::http::ServerOptions so;
    so.listen = httpListen;
    so.tls = common::tls::TlsFiles{layout_.serverCert, layout_.serverKey, layout_.caCert};
    so.clientAuth = common::tls::ClientAuth::kOptional;
    so.metrics = registry_;
    so.component = "hub";
    // The handler is installed below, once the REST API exists.
    SKIFF_ASSIGN_OR_RETURN(
        http_, common::http::Server::start(
                   so, [this](const common::http::Request& req, common::http::ResponseWriter& w) {
                     if (auto* api = rest_.load()) {
                       api->handle(req, w);
                     } else {
                       w.send(503, "application/json",
                              R"({"error":{"code":"Unavailable","message":"starting"}})");
                     }
                   }));
    httpsUrl_ = "https://" + hostForUrl(httpListen.host) + ":" + std::to_string(http_->port());

    EnrollmentOptions eo;
    eo.store = store_.get();
    eo.fleet = fleet_.get();
    eo.ca = ca_.get();
    eo.certificateValidity = std::chrono::duration_cast<std::chrono::seconds>(o.deviceCertValidity);
    eo.defaultTokenTtl = std::chrono::duration_cast<std::chrono::seconds>(o.enrollmentTokenTtl);
    eo.mqttUrl = o.mqttAdvertiseUrl.empty() ? o.mqttUrl : o.mqttAdvertiseUrl;
    std::string base = o.httpAdvertiseUrl.empty() ? httpsUrl_ : o.httpAdvertiseUrl;
    while (!base.empty() && base.back() == '/') base.pop_back();
    eo.renewUrl = base + "/api/v1/renew";
    eo.signingPublicKeyPem = signingPub;
    eo.metrics = registry_;
    enrollment_ = std::make_unique<Enrollment>(eo);

    api::RestApiOptions ro;
    ro.rpcTimeout = o.rpcTimeout;
    restApi_ = std::make_unique<api::RestApi>(
        *fleet_, *enrollment_, *rpc_, *tokens_,
        api::StaticFiles(o.dashboardDir.empty() ? defaultDashboardDir() : o.dashboardDir), ro);
    rest_.store(restApi_.get());

    api::GrpcServiceOptions go;
    go.rpcTimeout = o.rpcTimeout;
    go.metrics = registry_;
    service_ = std::make_unique<api::HubService>(*fleet_, *enrollment_, *rpc_, *tokens_, go);
    SKIFF_ASSIGN_OR_RETURN(std::string serverCert, common::readFile(layout_.serverCert));
    SKIFF_ASSIGN_OR_RETURN(std::string serverKey, common::readFile(layout_.serverKey));
    grpc::SslServerCredentialsOptions sslOpts(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    sslOpts.pem_key_cert_pairs.push_back({serverKey, serverCert});
    grpc::ServerBuilder builder;
    int grpcPort = 0;
    builder.AddListeningPort(grpcListen.toString(), grpc::SslServerCredentials(sslOpts), &grpcPort);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
    grpc_ = builder.BuildAndStart();
    if (!grpc_ || grpcPort == 0) {
      return common::unavailable("gRPC: cannot listen on " + grpcListen.toString());
    }
    grpcAddress_ = hostForUrl(grpcListen.host) + ":" + std::to_string(grpcPort);

    if (!secure) {
      common::log::warn("plain mqtt:// broker: device certificates and revocation do not apply",
                        {{"url", o.mqttUrl}});
    } else if (brokerSync_->reloadMechanism().empty()) {
      common::log::warn(
          "no --broker-pid-file or --broker-reload-command: deleting a device writes the CRL and "
          "ACL but the broker keeps accepting the device until it is reloaded");
    }
    (void)brokerSync_->initialSync();
    brokerSync_->start();
    router_->start();
    publisher_->start();
    fleet_->start(*publisher_);
    bus_->start();
    housekeeping_ = std::thread([this] { housekeep(); });
    common::log::info("hub ready", {{"grpc", grpcAddress_},
                                    {"https", httpsUrl_},
                                    {"mqtt", o.mqttUrl},
                                    {"store", o.store},
                                    {"dataDir", o.dataDir}});
    return Status::ok();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    {
      std::lock_guard lock(hkMu_);
      hkStop_ = true;
    }
    hkCv_.notify_all();
    if (housekeeping_.joinable()) housekeeping_.join();
    if (restApi_) restApi_->shutdown();
    if (service_) service_->shutdown();
    if (fleet_) fleet_->feed().closeAll();
    if (rpc_) rpc_->closeAll();
    if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
    if (http_) http_->stop();
    if (brokerSync_) brokerSync_->stop();
    // No new documents; let the acknowledged ones be recorded before the store closes.
    if (fleet_) fleet_->quiesce();
    if (publisher_) publisher_->stop(std::chrono::seconds(5));
    if (bus_) bus_->stop();
    if (router_) router_->stop();  // handles what the bus delivered before it stopped
    if (fleet_) fleet_->stop();
    grpc_.reset();
    http_.reset();
    common::log::info("hub stopped");
  }

 private:
  void housekeep() {
    std::unique_lock lock(hkMu_);
    while (!hkStop_) {
      lock.unlock();
      enrollment_->cleanup();
      lock.lock();
      hkCv_.wait_for(lock, std::chrono::minutes(10), [this] { return hkStop_; });
    }
  }

  DataDirLayout layout_;
  std::unique_ptr<common::tls::CertificateAuthority> ca_;
  std::unique_ptr<TokenAuthenticator> tokens_;
  std::unique_ptr<common::store::Store> store_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<fleet::Fleet> fleet_;
  std::unique_ptr<broker::BrokerSync> brokerSync_;
  std::unique_ptr<common::bus::MessageBus> bus_;
  std::unique_ptr<mqtt::RpcClient> rpc_;
  std::unique_ptr<mqtt::Router> router_;
  std::unique_ptr<mqtt::DesiredPublisher> publisher_;
  std::unique_ptr<Enrollment> enrollment_;
  std::unique_ptr<api::RestApi> restApi_;
  std::atomic<api::RestApi*> rest_{nullptr};
  std::unique_ptr<api::HubService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<common::http::Server> http_;
  std::string grpcAddress_;
  std::string httpsUrl_;
  std::thread housekeeping_;
  std::mutex hkMu_;
  std::condition_variable hkCv_;
  bool hkStop_ = false;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Hub>> Hub::start(const Options& o) {
  auto hub = std::make_unique<HubImpl>();
  SKIFF_RETURN_IF_ERROR(hub->init(o));
  return std::unique_ptr<Hub>(std::move(hub));
}

}  // namespace skiff::hub
