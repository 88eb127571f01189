// Kubelet endpoint: container logs over HTTPS with client-certificate authentication.
#include "virtual_node/kubelet_server.h"

#include <filesystem>

#include "common/fs.h"
#include "common/log.h"

namespace skiff::virtual_node {

using common::Result;
using common::Status;
using common::http::Request;
using common::http::ResponseWriter;

namespace {

void sendText(ResponseWriter& w, int code, const std::string& text) {
  w.send(code, "text/plain; charset=utf-8", text + "\n");
}

int httpFor(const Status& s) {
  switch (s.code()) {
    case common::StatusCode::kNotFound:
      return 404;
    case common::StatusCode::kInvalidArgument:
      return 400;
    case common::StatusCode::kPermissionDenied:
      return 403;
    case common::StatusCode::kUnauthenticated:
      return 401;
    case common::StatusCode::kUnavailable:
    case common::StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

// Parses a non-negative integer query parameter; InvalidArgument names it.
Result<std::optional<std::int64_t>> intParam(const Request& req, const char* name, bool positive) {
  auto v = req.queryParam(name);
  if (!v || v->empty()) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  bool ok = v->size() <= 18 && v->find_first_not_of("0123456789") == std::string::npos;
  if (ok) n = std::stoll(*v);
  if (!ok || (positive && n == 0)) {
    return common::invalidArgument(std::string(name) + ": \"" + *v + "\" is not a " +
                                   (positive ? "positive" : "non-negative") + " integer");
  }
  return std::optional<std::int64_t>(n);
}

Result<bool> boolParam(const Request& req, const char* name) {
  auto v = req.queryParam(name);
  if (!v || v->empty() || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1") return true;
  return common::invalidArgument(std::string(name) + ": \"" + *v + "\" is not true or false");
}

}  // namespace

Result<std::unique_ptr<KubeletServer>> KubeletServer::start(KubeletServerOptions opts,
                                                            ContainerLogProvider& logs,
                                                            PodLookup lookup) {
  std::unique_ptr<KubeletServer> s(new KubeletServer());
  s->opts_ = std::move(opts);
  s->logs_ = &logs;
  s->lookup_ = std::move(lookup);
  s->routes_.on(
      "GET", "/containerLogs/{namespace}/{pod}/{container}",
      [self = s.get()](const Request& req, ResponseWriter& w, const common::http::RouteParams& p) {
        self->containerLogs(req, w, p.at("namespace"), p.at("pod"), p.at("container"));
      });
  common::http::ServerOptions so;
  so.listen = s->opts_.listen;
  so.tls = s->opts_.tls;
  so.clientAuth = common::tls::ClientAuth::kOptional;
  so.metrics = s->opts_.metrics;
  so.component = "kubelet";
  auto* self = s.get();
  auto server = common::http::Server::start(
      so, [self](const Request& req, ResponseWriter& w) { self->handle(req, w); });
  if (!server.isOk()) return server.status().withContext("kubelet endpoint");
  s->server_ = std::move(*server);
  return s;
}

KubeletServer::~KubeletServer() { stop(); }

std::uint16_t KubeletServer::port() const { return server_ ? server_->port() : 0; }

void KubeletServer::stop() {
  if (server_) server_->stop();
}

void KubeletServer::handle(const Request& req, ResponseWriter& w) {
  if (req.path == "/healthz") return sendText(w, 200, "ok");
  if (!req.clientCommonName || req.clientCommonName->empty()) {
    return sendText(w, 401,
                    "Unauthorized: a client certificate signed by the cluster CA is required");
  }
  bool allowed = opts_.allowedUsers.contains(*req.clientCommonName);
  for (const auto& o : req.clientOrganizations)
    allowed = allowed || opts_.allowedGroups.contains(o);
  if (!allowed) {
    return sendText(w, 403,
                    "Forbidden: user \"" + *req.clientCommonName +
                        "\" may not read container logs on this node");
  }
  switch (routes_.dispatch(req, w)) {
    case common::http::RouteOutcome::kHandled:
      return;
    case common::http::RouteOutcome::kMethodNotAllowed:
      return sendText(w, 405, "Method Not Allowed");
    case common::http::RouteOutcome::kNoRoute:
      return sendText(w, 404, "404 page not found");
  }
}

void KubeletServer::containerLogs(const Request& req, ResponseWriter& w, const std::string& ns,
                                  const std::string& name, const std::string& container) {
  auto pod = lookup_(ns, name);
  if (!pod) return sendText(w, 404, "pod " + ns + "/" + name + " is not bound to this node");
  bool known = false;
  const Json& spec = common::jsonField(*pod, "spec");
  for (const char* list : {"containers", "initContainers"}) {  // init ones too, as kubectl does
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const auto& c : spec[list]) {
      known = known || (c.is_object() && common::jsonString(c, "name") == container);
    }
  }
  if (!known) {
    return sendText(w, 404, "container " + container + " is not in pod " + ns + "/" + name);
  }
  LogOptions lo;
  auto follow = boolParam(req, "follow");
  auto timestamps = boolParam(req, "timestamps");
  auto previous = boolParam(req, "previous");
  auto tail = intParam(req, "tailLines", false);
  auto since = intParam(req, "sinceSeconds", true);
  auto limit = intParam(req, "limitBytes", true);
  for (const Status& s : {follow.status(), timestamps.status(), previous.status(), tail.status(),
                          since.status(), limit.status()}) {
    if (!s.isOk()) return sendText(w, 400, s.message());
  }
  if (req.queryParam("sinceTime")) {
    return sendText(w, 400, "sinceTime is not supported by this node; use sinceSeconds");
  }
  lo.follow = *follow;
  lo.timestamps = *timestamps;
  lo.previous = *previous;
  lo.tailLines = *tail;
  lo.sinceSeconds = *since;
  std::int64_t remaining = limit->value_or(-1);
  bool started = false;
  auto write = [&](std::string_view data) {
    if (w.cancelled()) return false;
    if (!started) {
      w.startStream(200, "text/plain");
      started = true;
    }
    if (remaining >= 0) {
      if (remaining == 0) return false;
      if (static_cast<std::int64_t>(data.size()) > remaining) data = data.substr(0, remaining);
      remaining -= static_cast<std::int64_t>(data.size());
    }
    if (data.empty()) return true;
    return w.writeChunk(data) && remaining != 0;
  };
  Status s = logs_->getContainerLogs(ns, name, container, lo, write);
  if (started) return;  // the stream simply ends
  if (!s.isOk()) return sendText(w, httpFor(s), s.message());
  w.send(200, "text/plain", "");
}

Result<common::tls::TlsFiles> ensureServingCert(const std::string& certDir,
                                                const std::string& certFile,
                                                const std::string& keyFile,
                                                const std::string& address,
                                                const std::string& nodeName) {
  if (!certFile.empty() || !keyFile.empty()) {
    if (certFile.empty() || keyFile.empty()) {
      return common::invalidArgument("--tls-cert-file and --tls-private-key-file go together");
    }
    return common::tls::TlsFiles{certFile, keyFile, ""};
  }
  if (certDir.empty()) return common::invalidArgument("--cert-dir is required");
  SKIFF_RETURN_IF_ERROR(common::makeDirs(certDir, 0700));
  common::tls::TlsFiles files{certDir + "/kubelet.crt", certDir + "/kubelet.key", ""};
  if (std::filesystem::exists(files.certFile) && std::filesystem::exists(files.keyFile)) {
    auto pem = common::readFile(files.certFile);
    if (pem.isOk()) {
      auto cert = common::tls::Certificate::fromPem(*pem);
      if (cert.isOk()) {
        auto ips = cert->ipAddresses();
        auto dns = cert->dnsNames();
        bool covers = std::find(ips.begin(), ips.end(), address) != ips.end() ||
                      std::find(dns.begin(), dns.end(), address) != dns.end();
        if (covers &&
            cert->notAfter() > std::chrono::system_clock::now() + std::chrono::hours(24)) {
          return files;
        }
      }
    }
  }
  // Self-signed, as kubelets are by default: its own throw-away CA signs the serving certificate.
  SKIFF_ASSIGN_OR_RETURN(
      auto ca, common::tls::CertificateAuthority::create(nodeName + "-ca@skiff-virtual-node"));
  common::tls::IssueOptions io;
  io.commonName = nodeName;
  io.usage = common::tls::CertUsage::kServer;
  io.dnsNames = {"localhost", nodeName};
  bool isIp = address.find_first_not_of("0123456789.") == std::string::npos ||
              address.find(':') != std::string::npos;
  if (isIp) {
    io.ipAddresses = {address};
    if (address != "127.0.0.1") io.ipAddresses.push_back("127.0.0.1");
  } else {
    io.dnsNames.push_back(address);
  }
  SKIFF_ASSIGN_OR_RETURN(auto kc, ca.issueNew(io));
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, kc.key.toPem());
  SKIFF_ASSIGN_OR_RETURN(std::string certPem, kc.cert.toPem());
  SKIFF_ASSIGN_OR_RETURN(std::string caPem, ca.certificate().toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.keyFile, keyPem, 0600));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.certFile, certPem + caPem, 0644));
  common::log::info("created self-signed kubelet serving certificate",
                    {{"path", files.certFile}, {"address", address}});
  return files;
}

}  // namespace skiff::virtual_node
