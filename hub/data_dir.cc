// skiff-hub init: CA, certificates, signing key, tokens, Mosquitto configuration.
#include "hub/data_dir.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "common/fs.h"
#include "common/tls.h"
#include "hub/auth.h"
#include "hub/broker/crl.h"
#include "hub/broker/mosquitto_config.h"
#include "hub/random_id.h"

namespace skiff::hub {

namespace tls = common::tls;
using common::Result;
using common::Status;

DataDirLayout layoutOf(const std::string& dataDir) {
  DataDirLayout l;
  l.root = dataDir;
  std::string pki = dataDir + "/pki";
  l.caCert = pki + "/ca.pem";
  l.caKey = pki + "/ca.key";
  l.serverCert = pki + "/hub-server.pem";
  l.serverKey = pki + "/hub-server.key";
  l.mqttClientCert = pki + "/hub-mqtt-client.pem";
  l.mqttClientKey = pki + "/hub-mqtt-client.key";
  l.brokerCert = pki + "/broker.pem";
  l.brokerKey = pki + "/broker.key";
  l.signingKey = dataDir + "/signing.key";
  l.signingPublicKey = dataDir + "/signing.pub";
  l.tokensFile = dataDir + "/tokens.csv";
  l.skiffctlConfig = dataDir + "/skiffctl.toml";
  l.mosquittoDir = dataDir + "/mosquitto";
  l.mosquittoConf = l.mosquittoDir + "/mosquitto.conf";
  l.aclFile = l.mosquittoDir + "/acl";
  l.crlFile = l.mosquittoDir + "/crl.pem";
  l.persistenceDir = l.mosquittoDir + "/persistence/";
  l.brokerPidFile = l.mosquittoDir + "/mosquitto.pid";
  l.storeFile = dataDir + "/store.db";
  return l;
}

namespace {

bool isIp(const std::string& h) {
  return h.find_first_not_of("0123456789.") == std::string::npos ||
         h.find(':') != std::string::npos;
}

Status writePem(const std::string& path, const Result<std::string>& pem, unsigned mode) {
  if (!pem.isOk()) return pem.status().withContext(path);
  return common::writeFileAtomic(path, *pem, mode);
}

bool exists(const std::string& p) { return std::filesystem::exists(p); }

struct Names {
  std::vector<std::string> dns{"localhost"};
  std::vector<std::string> ips{"127.0.0.1", "::1"};
  void add(const std::string& h) {
    if (h.empty() || h == "0.0.0.0" || h == "::") return;
    auto& v = isIp(h) ? ips : dns;
    if (std::find(v.begin(), v.end(), h) == v.end()) v.push_back(h);
  }
};

bool covers(const tls::Certificate& c, const Names& n) {
  auto dns = c.dnsNames();
  auto ips = c.ipAddresses();
  for (const auto& d : n.dns) {
    if (std::find(dns.begin(), dns.end(), d) == dns.end()) return false;
  }
  for (const auto& i : n.ips) {
    // OpenSSL prints ::1 as "0:0:0:0:0:0:0:1"; compare loosely for IPv6.
    if (i.find(':') != std::string::npos) continue;
    if (std::find(ips.begin(), ips.end(), i) == ips.end()) return false;
  }
  return true;
}

// Ensures a leaf certificate + key pair: creates both, keeps a valid one, or re-issues the
// certificate for the existing key when it does not cover `names`.
Status ensureLeaf(const tls::CertificateAuthority& ca, const std::string& certFile,
                  const std::string& keyFile, const std::string& cn, tls::CertUsage usage,
                  const std::optional<Names>& names, InitReport& report) {
  tls::IssueOptions io;
  io.commonName = cn;
  io.usage = usage;
  io.validity = std::chrono::hours(24 * 365 * 5);
  if (names) {
    io.dnsNames = names->dns;
    io.ipAddresses = names->ips;
  }
  if (!exists(keyFile)) {
    SKIFF_ASSIGN_OR_RETURN(auto kc, ca.issueNew(io));
    SKIFF_RETURN_IF_ERROR(writePem(keyFile, kc.key.toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(certFile, kc.cert.toPem(), 0644));
    report.created.push_back(certFile);
    report.created.push_back(keyFile);
    return Status::ok();
  }
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, common::readFile(keyFile));
  auto key = tls::PrivateKey::fromPem(keyPem);
  if (!key.isOk()) return key.status().withContext(keyFile);
  bool reissue = !exists(certFile);
  if (!reissue) {
    SKIFF_ASSIGN_OR_RETURN(std::string pem, common::readFile(certFile));
    auto cert = tls::Certificate::fromPem(pem);
    reissue = !cert.isOk() || !ca.verify(*cert).isOk() || cert->subjectCommonName() != cn ||
              (names && !covers(*cert, *names));
  }
  if (!reissue) {
    report.kept.push_back(certFile);
    return Status::ok();
  }
  SKIFF_ASSIGN_OR_RETURN(auto csr, tls::CertificateRequest::create(*key, cn));
  SKIFF_ASSIGN_OR_RETURN(auto cert, ca.issue(csr, io));
  SKIFF_RETURN_IF_ERROR(writePem(certFile, cert.toPem(), 0644));
  report.updated.push_back(certFile);
  return Status::ok();
}

// The broker's configuration (rewritten when the options changed), its ACL and CRL (kept: the
// hub maintains them).
Status writeBrokerFiles(const InitOptions& o, const DataDirLayout& l,
                        const tls::CertificateAuthority& ca, InitReport& report) {
  broker::MosquittoConfig mc;
  mc.listen = o.mqttListen;
  mc.caFile = l.caCert;
  mc.certFile = l.brokerCert;
  mc.keyFile = l.brokerKey;
  mc.crlFile = l.crlFile;
  mc.aclFile = l.aclFile;
  mc.persistenceDir = l.persistenceDir;
  mc.runAsRoot = ::geteuid() == 0;
  std::string conf = broker::mosquittoConf(mc);
  auto current = common::readFile(l.mosquittoConf);
  if (!current.isOk()) {
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.mosquittoConf, conf, 0644));
    report.created.push_back(l.mosquittoConf);
  } else if (*current != conf) {
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.mosquittoConf, conf, 0644));
    report.updated.push_back(l.mosquittoConf);
  } else {
    report.kept.push_back(l.mosquittoConf);
  }
  if (!exists(l.aclFile)) {
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.aclFile, broker::aclFile({}), 0644));
    report.created.push_back(l.aclFile);
  } else {
    report.kept.push_back(l.aclFile);
  }
  if (!exists(l.crlFile)) {
    SKIFF_ASSIGN_OR_RETURN(std::string crl,
                           broker::buildCrl(ca, {}, std::chrono::system_clock::now()));
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.crlFile, crl, 0644));
    report.created.push_back(l.crlFile);
  } else {
    report.kept.push_back(l.crlFile);
  }
  return Status::ok();
}

}  // namespace

Result<InitReport> initDataDir(const InitOptions& o) {
  if (o.dataDir.empty()) return common::invalidArgument("--data-dir is required");
  InitReport report;
  DataDirLayout l = layoutOf(o.dataDir);
  SKIFF_RETURN_IF_ERROR(common::makeDirs(l.root, 0700));
  SKIFF_RETURN_IF_ERROR(common::makeDirs(l.root + "/pki", 0700));
  SKIFF_RETURN_IF_ERROR(common::makeDirs(l.persistenceDir, 0700));

  std::optional<tls::CertificateAuthority> ca;
  if (exists(l.caCert) || exists(l.caKey)) {
    SKIFF_ASSIGN_OR_RETURN(std::string certPem, common::readFile(l.caCert));
    SKIFF_ASSIGN_OR_RETURN(std::string keyPem, common::readFile(l.caKey));
    auto loaded = tls::CertificateAuthority::fromPem(certPem, keyPem);
    if (!loaded.isOk()) return loaded.status().withContext(l.caCert);
    ca = std::move(*loaded);
    report.kept.push_back(l.caCert);
  } else {
    SKIFF_ASSIGN_OR_RETURN(auto created, tls::CertificateAuthority::create("skiff-hub-ca"));
    SKIFF_RETURN_IF_ERROR(writePem(l.caKey, created.key().toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(l.caCert, created.certificate().toPem(), 0644));
    ca = std::move(created);
    report.created.push_back(l.caCert);
    report.created.push_back(l.caKey);
  }

  Names serverNames;
  for (const auto& listen : {o.grpcListen, o.httpListen}) {
    if (auto hp = common::parseHostPort(listen); hp.isOk()) serverNames.add(hp->host);
  }
  for (const auto& h : o.hosts) serverNames.add(h);
  SKIFF_RETURN_IF_ERROR(ensureLeaf(*ca, l.serverCert, l.serverKey, "skiff-hub",
                                   tls::CertUsage::kServer, serverNames, report));
  Names brokerNames;
  brokerNames.add(o.mqttListen.host);
  for (const auto& h : o.hosts) brokerNames.add(h);
  SKIFF_RETURN_IF_ERROR(ensureLeaf(*ca, l.brokerCert, l.brokerKey, "skiff-broker",
                                   tls::CertUsage::kServer, brokerNames, report));
  SKIFF_RETURN_IF_ERROR(ensureLeaf(*ca, l.mqttClientCert, l.mqttClientKey, "hub",
                                   tls::CertUsage::kClient, std::nullopt, report));

  if (!exists(l.signingKey)) {
    SKIFF_ASSIGN_OR_RETURN(auto key, tls::PrivateKey::generate(tls::KeyType::kEd25519));
    SKIFF_RETURN_IF_ERROR(writePem(l.signingKey, key.toPem(), 0600));
    SKIFF_RETURN_IF_ERROR(writePem(l.signingPublicKey, key.publicKeyPem(), 0644));
    report.created.push_back(l.signingKey);
  } else {
    SKIFF_ASSIGN_OR_RETURN(std::string pem, common::readFile(l.signingKey));
    auto key = tls::PrivateKey::fromPem(pem);
    if (!key.isOk()) return key.status().withContext(l.signingKey);
    if (!exists(l.signingPublicKey)) {
      SKIFF_RETURN_IF_ERROR(writePem(l.signingPublicKey, key->publicKeyPem(), 0644));
    }
    report.kept.push_back(l.signingKey);
  }

  std::string adminToken;
  if (!exists(l.tokensFile)) {
    adminToken = randomAlnum(32);
    std::string text =
        "# token,name,role — bearer tokens for skiff-hub's gRPC and REST APIs (role: admin or "
        "reader)\n" +
        adminToken + ",admin,admin\n" + randomAlnum(32) + ",reader,reader\n";
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.tokensFile, text, 0600));
    report.created.push_back(l.tokensFile);
  } else {
    SKIFF_ASSIGN_OR_RETURN(std::string text, common::readFile(l.tokensFile));
    SKIFF_RETURN_IF_ERROR(TokenAuthenticator::parse(text).status().withContext(l.tokensFile));
    adminToken = firstTokenWithRole(text, Role::kAdmin).valueOr("");
    report.kept.push_back(l.tokensFile);
  }

  if (!exists(l.skiffctlConfig) && !adminToken.empty()) {
    std::string server = o.grpcListen;
    if (auto hp = common::parseHostPort(o.grpcListen); hp.isOk()) {
      std::string host = hp->host == "0.0.0.0" || hp->host == "::" ? "127.0.0.1" : hp->host;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";
      server = host + ":" + std::to_string(hp->port);
    }
    std::string text = "# skiffctl --config " + l.skiffctlConfig +
                       " (admin). Written by skiff-hub init.\n"
                       "server = \"" +
                       server + "\"\nca = \"" + l.caCert + "\"\ntoken = \"" + adminToken + "\"\n";
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(l.skiffctlConfig, text, 0600));
    report.created.push_back(l.skiffctlConfig);
  }

  SKIFF_RETURN_IF_ERROR(writeBrokerFiles(o, l, *ca, report));
  return report;
}

Status checkDataDir(const DataDirLayout& l) {
  for (const auto* f : {&l.caCert, &l.caKey, &l.serverCert, &l.serverKey, &l.mqttClientCert,
                        &l.mqttClientKey, &l.signingKey, &l.tokensFile}) {
    if (!exists(*f)) {
      return common::invalidArgument(*f + " is missing: run `skiff-hub init --data-dir " + l.root +
                                     "` first");
    }
  }
  return Status::ok();
}

}  // namespace skiff::hub
