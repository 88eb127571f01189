// Wiring of the control plane: data dir, store, API server, HTTPS listener, lifecycle.
#include "control_plane/control_plane.h"

#include <openssl/rand.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <filesystem>

#include "common/base64.h"
#include "common/daemon.h"
#include "common/fs.h"
#include "common/http/server.h"
#include "common/log.h"
#include "common/store/etcd/etcd_store.h"
#include "common/store/sqlite_store.h"
#include "common/tls.h"
#include "control_plane/apiserver/api_server.h"
#include "control_plane/controllers/api_client.h"
#include "control_plane/controllers/daemonset_controller.h"
#include "control_plane/controllers/deployment_controller.h"
#include "control_plane/controllers/event_recorder.h"
#include "control_plane/controllers/garbage_collector.h"
#include "control_plane/controllers/informer.h"
#include "control_plane/controllers/leader_elector.h"
#include "control_plane/controllers/namespace_controller.h"
#include "control_plane/controllers/node_lifecycle_controller.h"
#include "control_plane/controllers/replicaset_controller.h"
#include "control_plane/scheduler/scheduler.h"
#include "control_plane/secret_box.h"

namespace skiff::control_plane {

using common::Result;
using common::Status;

namespace {

std::string randomToken() {
  unsigned char b[24];
  RAND_bytes(b, sizeof b);
  std::string s = common::base64Encode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

bool isIpLiteral(const std::string& h) {
  return h.find_first_not_of("0123456789.") == std::string::npos ||
         h.find(':') != std::string::npos;
}

Status writePem(const std::string& path, const Result<std::string>& pem, unsigned mode) {
  if (!pem.isOk()) return pem.status();
  return common::writeFileAtomic(path, *pem, mode);
}

std::string kubeconfig(const std::string& server, const std::string& caPem, const std::string& user,
                       const std::string& token) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: skiff\n"
         "  cluster:\n"
         "    server: " +
         server +
         "\n"
         "    certificate-authority-data: " +
         common::base64Encode(caPem) +
         "\n"
         "users:\n"
         "- name: " +
         user +
         "\n"
         "  user:\n"
         "    token: " +
         token +
         "\n"
         "contexts:\n"
         "- name: skiff\n"
         "  context:\n"
         "    cluster: skiff\n"
         "    user: " +
         user +
         "\n"
         "current-context: skiff\n";
}

// Reads the token of `user` from a token file we wrote.
std::string tokenOf(const std::string& tokensText, const std::string& user) {
  std::size_t pos = 0;
  while (pos < tokensText.size()) {
    std::size_t nl = tokensText.find('\n', pos);
    std::string line = tokensText.substr(pos, nl == std::string::npos ? nl : nl - pos);
    auto c1 = line.find(',');
    if (c1 != std::string::npos && line.compare(c1 + 1, user.size() + 1, user + ",") == 0) {
      return line.substr(0, c1);
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return "";
}

}  // namespace

Result<DataDirFiles> ensureDataDir(const std::string& dataDir, const std::string& listenHost) {
  DataDirFiles f;
  std::string pki = dataDir + "/pki";
  SKIFF_RETURN_IF_ERROR(common::makeDirs(pki, 0700));
  std::filesystem::permissions(dataDir, std::filesystem::perms::owner_all);
  f.caCert = pki + "/ca.pem";
  f.caKey = pki + "/ca.key";
  f.serverCert = pki + "/apiserver.pem";
  f.serverKey = pki + "/apiserver.key";
  f.kubeletClientCert = pki + "/apiserver-kubelet-client.pem";
  f.kubeletClientKey = pki + "/apiserver-kubelet-client.key";
  f.tokensFile = dataDir + "/tokens.csv";
  f.adminKubeconfig = dataDir + "/admin.kubeconfig";
  f.readOnlyKubeconfig = dataDir + "/read-only.kubeconfig";
  f.encryptionKey = dataDir + "/secrets-encryption.key";
  f.storeFile = dataDir + "/store.db";

  std::optional<common::tls::CertificateAuthority> ca;
  if (std::filesystem::exists(f.caCert)) {
    SKIFF_ASSIGN_OR_RETURN(std::string certPem, common::readFile(f.caCert));
    SKIFF_ASSIGN_OR_RETURN(std::string keyPem, common::readFile(f.caKey));
    auto loaded = common::tls::CertificateAuthority::fromPem(certPem, keyPem);
    if (!loaded.isOk()) return loaded.status().withContext(f.caCert);
    ca = std::move(*loaded);
  } else {
    SKIFF_ASSIGN_OR_RETURN(auto created,
                           common::tls::CertificateAuthority::create("skiff-control-plane-ca"));
    SKIFF_RETURN_IF_ERROR(writePem(f.caKey, created.key().toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(f.caCert, created.certificate().toPem(), 0644));
    ca = std::move(created);
    common::log::info("created cluster CA", {{"path", f.caCert}});
  }

  bool needServer = !std::filesystem::exists(f.serverCert);
  if (!needServer) {
    SKIFF_ASSIGN_OR_RETURN(std::string pem, common::readFile(f.serverCert));
    auto cert = common::tls::Certificate::fromPem(pem);
    if (!cert.isOk() || !ca->verify(*cert).isOk()) {
      needServer = true;
    } else if (!listenHost.empty() && listenHost != "0.0.0.0" && listenHost != "::") {
      auto ips = cert->ipAddresses();
      auto dns = cert->dnsNames();
      needServer = std::find(ips.begin(), ips.end(), listenHost) == ips.end() &&
                   std::find(dns.begin(), dns.end(), listenHost) == dns.end();
    }
  }
  if (needServer) {
    common::tls::IssueOptions io;
    io.commonName = "skiff-apiserver";
    io.dnsNames = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"};
    io.ipAddresses = {"127.0.0.1", "::1"};
    if (!listenHost.empty() && listenHost != "0.0.0.0" && listenHost != "::") {
      if (isIpLiteral(listenHost))
        io.ipAddresses.push_back(listenHost);
      else
        io.dnsNames.push_back(listenHost);
    }
    io.usage = common::tls::CertUsage::kServer;
    SKIFF_ASSIGN_OR_RETURN(auto kc, ca->issueNew(io));
    SKIFF_RETURN_IF_ERROR(writePem(f.serverKey, kc.key.toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(f.serverCert, kc.cert.toPem(), 0644));
  }

  bool needKubeletClient =
      !std::filesystem::exists(f.kubeletClientCert) || !std::filesystem::exists(f.kubeletClientKey);
  if (!needKubeletClient) {
    SKIFF_ASSIGN_OR_RETURN(std::string pem, common::readFile(f.kubeletClientCert));
    auto cert = common::tls::Certificate::fromPem(pem);
    needKubeletClient = !cert.isOk() || !ca->verify(*cert).isOk();
  }
  if (needKubeletClient) {
    // Kubelets (virtual nodes) verify it against the cluster CA; O=system:masters as kubeadm's.
    common::tls::IssueOptions io;
    io.commonName = "kube-apiserver-kubelet-client";
    io.organizations = {"system:masters"};
    io.usage = common::tls::CertUsage::kClient;
    SKIFF_ASSIGN_OR_RETURN(auto kc, ca->issueNew(io));
    SKIFF_RETURN_IF_ERROR(writePem(f.kubeletClientKey, kc.key.toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(f.kubeletClientCert, kc.cert.toPem(), 0644));
  }

  if (!std::filesystem::exists(f.tokensFile)) {
    std::string text = "# token,user,uid,\"groups\" — kube-apiserver token file format\n" +
                       randomToken() + ",admin,admin,\"system:masters\"\n" + randomToken() +
                       ",read-only,read-only,\"skiff:read-only\"\n";
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(f.tokensFile, text, 0600));
  }
  return f;
}

namespace {

class ControlPlaneImpl final : public ControlPlane {
 public:
  ~ControlPlaneImpl() override { stop(); }

  std::uint16_t port() const override { return server_ ? server_->port() : 0; }
  const DataDirFiles& files() const override { return files_; }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    // Step down first (releasing the Lease lets a standby replica take over at once), but keep
    // acting until then; the write gate fences whatever is still in flight.
    if (elector_) elector_->stop();
    if (scheduler_) scheduler_->stop();
    for (auto& c : controllers_) c->stop();
    for (auto& inf : informers_) inf->stop();
    if (api_) api_->shutdown();
    if (server_) server_->stop();
    scheduler_.reset();
    controllers_.clear();
    elector_.reset();
    electorClient_.reset();
    events_.reset();
    client_.reset();
    informers_.clear();
    api_.reset();
    objects_.reset();
    store_.reset();
    common::log::info("control plane stopped");
  }

  Status init(const Options& o) {
    SKIFF_ASSIGN_OR_RETURN(common::HostPort listen, common::parseHostPort(o.listen));
    SKIFF_ASSIGN_OR_RETURN(files_, ensureDataDir(o.dataDir, listen.host));
    if (o.store == "sqlite") {
      common::store::SqliteStoreOptions so;
      so.path = files_.storeFile;
      SKIFF_ASSIGN_OR_RETURN(auto s, common::store::SqliteStore::open(so));
      store_ = std::move(s);
    } else {
      SKIFF_ASSIGN_OR_RETURN(auto eo, common::store::etcd::parseEtcdUrl(o.store));
      SKIFF_ASSIGN_OR_RETURN(auto s, common::store::etcd::EtcdStore::connect(eo));
      store_ = std::move(s);
    }
    SKIFF_ASSIGN_OR_RETURN(auto box, SecretBox::loadOrCreate(files_.encryptionKey));
    objects_ =
        std::make_unique<apiserver::ObjectStore>(*store_, common::SystemClock::instance(), box);
    SKIFF_RETURN_IF_ERROR(ensureSystemNamespaces());

    SKIFF_ASSIGN_OR_RETURN(auto tokens, apiserver::TokenAuthenticator::fromFile(files_.tokensFile));
    apiserver::ApiServerOptions ao;
    ao.tokens = std::make_shared<apiserver::TokenAuthenticator>(std::move(tokens));
    // Kubelet serving certificates are self-signed (as kubelets' by default): not verified.
    ao.kubeletClient = common::tls::TlsFiles{files_.kubeletClientCert, files_.kubeletClientKey, ""};
    ao.defaulting.notReadyTolerationSeconds = o.defaultNotReadyTolerationSeconds;
    ao.defaulting.unreachableTolerationSeconds = o.defaultUnreachableTolerationSeconds;
    auto registry = std::make_shared<prometheus::Registry>();
    api_ = std::make_unique<apiserver::ApiServer>(*objects_, ao, registry);

    common::http::ServerOptions so;
    so.listen = listen;
    so.tls = common::tls::TlsFiles{files_.serverCert, files_.serverKey, files_.caCert};
    so.clientAuth = common::tls::ClientAuth::kOptional;
    so.metrics = registry;
    so.component = "apiserver";
    auto* api = api_.get();
    SKIFF_ASSIGN_OR_RETURN(
        server_, common::http::Server::start(
                     so, [api](const common::http::Request& req, common::http::ResponseWriter& w) {
                       api->handle(req, w);
                     }));
    SKIFF_RETURN_IF_ERROR(writeKubeconfigs(listen.host));
    SKIFF_RETURN_IF_ERROR(ensureKubernetesService(server_->port()));
    SKIFF_RETURN_IF_ERROR(startControlLoops(o, registry));
    common::log::info("control plane ready",
                      {{"address", listen.host + ":" + std::to_string(server_->port())},
                       {"store", o.store},
                       {"kubeconfig", files_.adminKubeconfig}});
    return Status::ok();
  }

 private:
  Status ensureSystemNamespaces() {
    const auto* ns = apiserver::findResource("", "v1", "namespaces");
    for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      common::Json obj = {{"kind", "Namespace"},
                          {"apiVersion", "v1"},
                          {"metadata", {{"name", name}}},
                          {"spec", {{"finalizers", {"kubernetes"}}}},
                          {"status", {{"phase", "Active"}}}};
      auto r = objects_->create(*ns, obj);
      if (!r.isOk() && r.status().code() != common::StatusCode::kAlreadyExists) {
        return r.status().withContext("creating namespace " + std::string(name));
      }
    }
    return Status::ok();
  }

  // default/kubernetes, as kube-apiserver creates it: the API's ClusterIP Service (the first
  // address of the service range, which the allocator never hands out) with port 443 → the
  // port this server listens on. Created once; an existing one is left as it is.
  Status ensureKubernetesService(int port) {
    const auto* svc = apiserver::findResource("", "v1", "services");
    common::Json obj = {
        {"kind", "Service"},
        {"apiVersion", "v1"},
        {"metadata",
         {{"name", "kubernetes"},
          {"namespace", "default"},
          {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
        {"spec",
         {{"type", "ClusterIP"},
          {"clusterIP", apiserver::kKubernetesServiceIP},
          {"clusterIPs", {apiserver::kKubernetesServiceIP}},
          {"ipFamilies", {"IPv4"}},
          {"ipFamilyPolicy", "SingleStack"},
          {"internalTrafficPolicy", "Cluster"},
          {"sessionAffinity", "None"},
          {"ports",
           {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", port}}}}}},
        {"status", {{"loadBalancer", common::Json::object()}}}};
    auto r = objects_->create(*svc, obj);
    if (!r.isOk() && r.status().code() != common::StatusCode::kAlreadyExists) {
      return r.status().withContext("creating service default/kubernetes");
    }
    return Status::ok();
  }

  controllers::Informer& informer(const char* group, const char* resource) {
    const auto* r = apiserver::findResource(group, "v1", resource);
    for (auto& inf : informers_) {
      if (&inf->resource() == r) return *inf;
    }
    informers_.push_back(std::make_unique<controllers::Informer>(*objects_, *r));
    return *informers_.back();
  }

  // Scheduler and controllers: in-process API clients of this server, fed by informers.
  Status startControlLoops(const Options& o, std::shared_ptr<prometheus::Registry> registry) {
    const common::Clock& clock = common::SystemClock::instance();
    client_ = std::make_unique<controllers::ApiClient>(*api_, "system:kube-controller-manager",
                                                       std::vector<std::string>{"system:masters"});
    events_ = std::make_unique<controllers::EventRecorder>(*client_, clock, "default-scheduler");
    if (!o.disableScheduler) {
      scheduler::SchedulerOptions so;
      so.metrics = registry;
      scheduler_ = std::make_unique<scheduler::Scheduler>(*client_, informer("", "pods"),
                                                          informer("", "nodes"), *events_, so);
      scheduler_->registerHandlers();
    }
    if (!o.disableControllers) {
      auto& pods = informer("", "pods");
      auto& rs = informer("apps", "replicasets");
      auto& deps = informer("apps", "deployments");
      auto& ds = informer("apps", "daemonsets");
      controllers_.push_back(
          std::make_unique<controllers::ReplicaSetController>(*client_, rs, pods));
      controllers_.push_back(
          std::make_unique<controllers::DeploymentController>(*client_, deps, rs));
      controllers_.push_back(std::make_unique<controllers::DaemonSetController>(
          *client_, ds, informer("", "nodes"), pods));
      controllers_.push_back(std::make_unique<controllers::GarbageCollector>(
          *client_,
          std::map<std::string, controllers::Informer*>{
              {"ReplicaSet", &rs}, {"Deployment", &deps}, {"DaemonSet", &ds}},
          std::vector<controllers::Informer*>{&pods, &rs}));
      SKIFF_ASSIGN_OR_RETURN(std::string caPem, common::readFile(files_.caCert));
      controllers_.push_back(std::make_unique<controllers::NamespaceController>(
          *client_, informer("", "namespaces"), std::move(caPem)));
      controllers_.push_back(std::make_unique<controllers::NodeLifecycleController>(
          *client_, informer("", "nodes"), informer("coordination.k8s.io", "leases"), pods,
          *events_, clock,
          controllers::NodeLifecycleOptions{o.nodeMonitorPeriod, o.nodeMonitorGracePeriod}));
      for (auto& c : controllers_) c->registerHandlers();
    }
    bool loops = scheduler_ || !controllers_.empty();
    if (loops && o.leaderElect) {
      // Followers keep caches and queues warm but act only once they lead.
      setLoopsActive(false);
      leaderGauge_ = &prometheus::BuildGauge()
                          .Name("skiff_leader_election_master_status")
                          .Help("1 while this replica holds the control-plane Lease")
                          .Register(*registry)
                          .Add({{"name", "skiff-control-plane"}});
      electorClient_ = std::make_unique<controllers::ApiClient>(
          *api_, "system:kube-controller-manager", std::vector<std::string>{"system:masters"});
      controllers::LeaderElectionOptions lo;
      lo.identity = o.leaderElectIdentity;
      if (lo.identity.empty()) {
        std::error_code ec;
        auto abs = std::filesystem::weakly_canonical(o.dataDir, ec);
        lo.identity = controllers::defaultLeaderIdentity(ec ? o.dataDir : abs.string());
      }
      lo.leaseDuration = o.leaderElectLeaseDuration;
      lo.renewDeadline = o.leaderElectRenewDeadline;
      lo.retryPeriod = o.leaderElectRetryPeriod;
      elector_ = std::make_unique<controllers::LeaderElector>(
          *electorClient_, clock, lo,
          [this] {
            leaderGauge_->Set(1);
            setLoopsActive(true);
          },
          [this] {
            setLoopsActive(false);
            leaderGauge_->Set(0);
          });
      auto* elector = elector_.get();
      client_->setWriteGate([elector] { return elector->isLeader(); });
    }
    for (auto& inf : informers_) inf->start();
    for (auto& inf : informers_) {
      if (!inf->waitForSync(std::chrono::seconds(30))) {
        return common::unavailable("informer for " + inf->resource().resource + " did not sync");
      }
    }
    if (scheduler_) scheduler_->start();
    for (auto& c : controllers_) c->start();
    if (elector_) elector_->start();
    return Status::ok();
  }

  void setLoopsActive(bool active) {
    if (scheduler_) scheduler_->setActive(active);
    for (auto& c : controllers_) c->queue().setActive(active);
  }

  Status writeKubeconfigs(const std::string& host) {
    SKIFF_ASSIGN_OR_RETURN(std::string caPem, common::readFile(files_.caCert));
    SKIFF_ASSIGN_OR_RETURN(std::string tokens, common::readFile(files_.tokensFile));
    std::string h = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    std::string server = "https://" + h + ":" + std::to_string(server_->port());
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(
        files_.adminKubeconfig, kubeconfig(server, caPem, "admin", tokenOf(tokens, "admin")),
        0600));
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(
        files_.readOnlyKubeconfig,
        kubeconfig(server, caPem, "read-only", tokenOf(tokens, "read-only")), 0600));
    return Status::ok();
  }

  DataDirFiles files_;
  std::unique_ptr<common::store::Store> store_;
  std::unique_ptr<apiserver::ObjectStore> objects_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<common::http::Server> server_;
  std::unique_ptr<controllers::ApiClient> client_;
  std::unique_ptr<controllers::EventRecorder> events_;
  std::vector<std::unique_ptr<controllers::Informer>> informers_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::vector<std::unique_ptr<controllers::Controller>> controllers_;
  std::unique_ptr<controllers::ApiClient> electorClient_;
  std::unique_ptr<controllers::LeaderElector> elector_;
  prometheus::Gauge* leaderGauge_ = nullptr;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<ControlPlane>> ControlPlane::start(const Options& o) {
  auto cp = std::make_unique<ControlPlaneImpl>();
  SKIFF_RETURN_IF_ERROR(cp->init(o));
  return std::unique_ptr<ControlPlane>(std::move(cp));
}

}  // namespace skiff::control_plane
