// skiff-virtual-node wiring: Kubernetes client from the kubeconfig, the hub client, the edge
// provider and the virtual node; runs until stop is requested.
#include <filesystem>

#include "common/daemon.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/net.h"
#include "edge_provider/edge_provider.h"
#include "edge_provider/grpc_hub_client.h"
#include "virtual_node/event_recorder.h"
#include "virtual_node/kube/kubeconfig.h"
#include "virtual_node/options.h"
#include "virtual_node/virtual_node.h"

namespace skiff::virtual_node {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Waits until the API server answers; credentials it rejects are fatal, anything else retried.
common::Status checkApiServer(kube::KubeClient& client, const std::string& kubeconfig,
                              std::stop_token stop) {
  for (int attempt = 0;; ++attempt) {
    auto r = client.get("/api/v1/namespaces/kube-node-lease");
    if (r.isOk()) return common::Status::ok();
    auto code = r.status().code();
    if (code == common::StatusCode::kUnauthenticated ||
        code == common::StatusCode::kPermissionDenied) {
      return common::unauthenticated(
          "kubeconfig " + kubeconfig +
          ": the API server rejected the credentials: " + r.status().message());
    }
    if (code == common::StatusCode::kNotFound) {
      return common::notFound("the API server has no kube-node-lease namespace: " +
                              r.status().message());
    }
    if (attempt % 10 == 0) {
      common::log::warn("API server not reachable yet", {{"error", r.status().toString()}});
    }
    if (!common::sleepFor(stop, std::chrono::seconds(1))) return common::Status::ok();
  }
}

}  // namespace

common::Status run(const Options& o, std::stop_token stop) {
  auto kc = kube::loadKubeConfig(o.kubeconfig, o.kubeContext);
  if (!kc.isOk()) return kc.status();

  std::string token = o.hubToken;
  if (!o.hubTokenFile.empty()) {
    auto t = common::readFile(o.hubTokenFile);
    if (!t.isOk()) return t.status().withContext("--hub-token-file");
    token = trim(*t);
    if (token.empty())
      return common::invalidArgument("--hub-token-file " + o.hubTokenFile + " is empty");
  }
  auto hubCa = common::readFile(o.hubCa);
  if (!hubCa.isOk()) return hubCa.status().withContext("--hub-ca");
  if (!common::tls::Certificate::bundleFromPem(*hubCa).isOk()) {
    return common::invalidArgument("--hub-ca " + o.hubCa + ": not a PEM certificate");
  }

  SKIFF_ASSIGN_OR_RETURN(common::HostPort listen, common::parseHostPort(o.kubeletListen));
  std::string advertise =
      o.kubeletAdvertiseAddress.empty() ? listen.host : o.kubeletAdvertiseAddress;
  SKIFF_RETURN_IF_ERROR(common::makeDirs(o.certDir, 0700));
  std::string clientCa = o.clientCaFile;
  if (clientCa.empty()) {
    if (kc->caPem.empty()) {
      return common::invalidArgument(
          "--client-ca-file is required: the kubeconfig has no certificate-authority to verify "
          "the API server's client certificate with");
    }
    clientCa = o.certDir + "/client-ca.crt";
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(clientCa, kc->caPem, 0644));
  } else if (!std::filesystem::exists(clientCa)) {
    return common::notFound("--client-ca-file " + clientCa + " does not exist");
  }
  SKIFF_ASSIGN_OR_RETURN(
      auto serving,
      ensureServingCert(o.certDir, o.tlsCertFile, o.tlsPrivateKeyFile, advertise, o.nodeName));
  serving.caFile = clientCa;

  kube::KubeClient client(*kc);
  SKIFF_RETURN_IF_ERROR(checkApiServer(client, o.kubeconfig, stop));
  if (stop.stop_requested()) return common::Status::ok();

  edge_provider::GrpcHubClientOptions ho;
  ho.address = o.hub;
  ho.caPem = *hubCa;
  ho.token = token;
  ho.serverName = o.hubServerName;
  SKIFF_ASSIGN_OR_RETURN(auto hub, edge_provider::GrpcHubClient::create(ho));

  const common::Clock& clock = common::SystemClock::instance();
  KubeEventRecorder events(client, clock, "skiff-virtual-node", o.nodeName);
  KubeObjectReader reader(client);
  edge_provider::EdgeProviderOptions po;
  po.owner = o.nodeName;
  po.deviceMode = o.nodePerDevice;
  po.deviceNodePrefix = o.deviceNodePrefix;
  po.maxPods = o.maxPods;
  po.fleetStatusInterval = o.fleetStatusInterval;
  edge_provider::EdgeProvider provider(*hub, reader, events, clock, po);

  VirtualNodeConfig vc;
  vc.name = o.nodeName;
  vc.singleNode = !o.nodePerDevice;
  vc.node.leaseDuration = o.leaseDuration;
  vc.node.leaseRenewInterval = o.leaseRenewInterval;
  vc.node.statusReportInterval = o.nodeStatusReportInterval;
  vc.pod.workers = o.podSyncWorkers;
  vc.pod.resyncPeriod = o.resyncPeriod;
  vc.kubelet.listen = listen;
  vc.kubelet.tls = serving;
  vc.kubeletAdvertiseAddress = advertise;
  ProviderSet ps{&provider, &provider, &provider, &provider};
  // Callbacks are registered by VirtualNode::start before the provider's threads run.
  SKIFF_ASSIGN_OR_RETURN(auto vn, VirtualNode::start(client, ps, vc, clock));
  provider.start();
  common::log::info("virtual node started", {{"node", o.nodeName},
                                             {"mode", o.nodePerDevice ? "device" : "fleet"},
                                             {"hub", o.hub},
                                             {"apiServer", kc->server},
                                             {"kubeletPort", vn->kubeletPort()}});
  bool announced = false;
  while (!stop.stop_requested()) {
    if (!announced && vn->waitReady(std::chrono::milliseconds(500))) {
      announced = true;
      common::log::info("virtual node ready", {{"nodes", vn->nodes().nodeNames().size()}});
    }
    common::sleepFor(stop, std::chrono::milliseconds(announced ? 1000 : 10));
  }
  common::log::info("shutting down");
  client.shutdown();  // ends watches, backoff waits and in-flight API calls at once
  vn->stop();
  provider.stop();
  events.stop();
  common::log::info("virtual node stopped");
  return common::Status::ok();
}

}  // namespace skiff::virtual_node
