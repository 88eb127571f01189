// HubFixture: skiff-hub init + Mosquitto + skiff-hub as child processes.
#include "tests/support/hub.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "common/base64.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/tls.h"
#include "tests/support/http.h"

namespace skiff::test {

using common::Result;
using common::Status;

namespace {

Status statusFromError(long httpStatus, const std::string& body) {
  auto j = common::parseJson(body);
  std::string code, message = body;
  if (j.isOk() && j->is_object() && j->contains("error")) {
    code = (*j)["error"].value("code", "");
    message = (*j)["error"].value("message", "");
  }
  std::string text = "HTTP " + std::to_string(httpStatus) + ": " + message;
  if (code == "Unauthenticated") return common::unauthenticated(text);
  if (code == "PermissionDenied") return common::permissionDenied(text);
  if (code == "InvalidArgument") return common::invalidArgument(text);
  if (code == "NotFound") return common::notFound(text);
  if (code == "AlreadyExists") return common::alreadyExists(text);
  if (code == "Unavailable") return common::unavailable(text);
  return common::internalError(text);
}

Status grpcStatus(const grpc::Status& s) {
  if (s.ok()) return Status::ok();
  return common::Status(
      s.error_code() == grpc::StatusCode::NOT_FOUND          ? common::StatusCode::kNotFound
      : s.error_code() == grpc::StatusCode::ALREADY_EXISTS   ? common::StatusCode::kAlreadyExists
      : s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? common::StatusCode::kInvalidArgument
                                                             : common::StatusCode::kInternal,
      "gRPC " + std::to_string(s.error_code()) + ": " + s.error_message());
}

std::string tokenOf(const std::string& tokens, const std::string& role) {
  std::istringstream in(tokens);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto c1 = line.find(',');
    auto c2 = line.find(',', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    if (line.substr(c2 + 1) == role) return line.substr(0, c1);
  }
  return "";
}

}  // namespace

HubFixture::HubFixture(HubFixtureOptions opts, TempDir dir)
    : opts_(std::move(opts)), dir_(std::move(dir)) {}

HubFixture::~HubFixture() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-test] skiff-hub log tail (" << dir_.file("hub.log") << "):\n"
              << fileTail(dir_.file("hub.log"), 6000) << "\n"
              << "[skiff-test] mosquitto log tail:\n"
              << fileTail(dir_.file("mosquitto.log"), 3000) << "\n";
  }
  hub_.reset();
  broker_.reset();
}

Result<std::unique_ptr<HubFixture>> HubFixture::create(HubFixtureOptions opts) {
  SKIFF_RETURN_IF_ERROR(findProgram("mosquitto").status());
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("hub"));
  std::unique_ptr<HubFixture> fx(new HubFixture(std::move(opts), std::move(dir)));
  fx->hubBinary_ = fx->opts_.hubBinary;
  if (fx->hubBinary_.empty()) {
    const char* env = std::getenv("SKIFF_HUB_BIN");
    fx->hubBinary_ = env != nullptr ? env : SKIFF_HUB_BIN_DEFAULT;
  }
  SKIFF_ASSIGN_OR_RETURN(fx->grpcPort_, freeLoopbackPort());
  SKIFF_ASSIGN_OR_RETURN(fx->httpPort_, freeLoopbackPort());
  SKIFF_ASSIGN_OR_RETURN(fx->mqttPort_, freeLoopbackPort());
  SKIFF_RETURN_IF_ERROR(runCommandOk({fx->hubBinary_, "init", "--data-dir", fx->dataDir(),
                                      "--mqtt-listen", "127.0.0.1:" + std::to_string(fx->mqttPort_),
                                      "--grpc-listen", fx->grpcAddress(), "--http-listen",
                                      "127.0.0.1:" + std::to_string(fx->httpPort_)})
                            .status());
  SKIFF_ASSIGN_OR_RETURN(std::string tokens, common::readFile(fx->dir_.file("tokens.csv")));
  fx->adminToken_ = tokenOf(tokens, "admin");
  fx->readerToken_ = tokenOf(tokens, "reader");
  SKIFF_RETURN_IF_ERROR(common::makeDirs(fx->dir_.file("test-devices"), 0700));
  SKIFF_RETURN_IF_ERROR(fx->startBroker());
  SKIFF_RETURN_IF_ERROR(fx->startHub());
  return fx;
}

std::string HubFixture::grpcAddress() const { return "127.0.0.1:" + std::to_string(grpcPort_); }
std::string HubFixture::httpsUrl() const {
  return "https://127.0.0.1:" + std::to_string(httpPort_);
}
std::string HubFixture::mqttUrl() const { return "mqtts://127.0.0.1:" + std::to_string(mqttPort_); }
std::string HubFixture::caFile() const { return dir_.file("pki/ca.pem"); }
std::string HubFixture::skiffctlConfig() const { return dir_.file("skiffctl.toml"); }

Result<std::string> HubFixture::httpsKeyPin() const {
  std::string file = dir_.file("pki/hub-server.pem");
  SKIFF_ASSIGN_OR_RETURN(std::string pem, common::readFile(file));
  SKIFF_ASSIGN_OR_RETURN(auto cert, common::tls::Certificate::fromPem(pem));
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.raw()), &der);
  if (len <= 0) return common::internalError("cannot encode the public key of " + file);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  int ok = EVP_Digest(der, static_cast<std::size_t>(len), md, &mdLen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) return common::internalError("SHA-256 of the hub's public key failed");
  return common::base64Encode(std::string_view(reinterpret_cast<const char*>(md), mdLen));
}

std::string HubFixture::signingPublicKeyPem() const {
  return common::readFile(dir_.file("signing.pub")).valueOr("");
}

Status HubFixture::startBroker() {
  if (broker_ && broker_->isRunning()) return Status::ok();
  broker_.reset();
  SubprocessOptions so;
  so.argv = {"mosquitto", "-c", dir_.file("mosquitto/mosquitto.conf")};
  so.logFile = dir_.file("mosquitto.log");
  so.workDir = dir_.path();
  SKIFF_ASSIGN_OR_RETURN(Subprocess p, Subprocess::start(std::move(so)));
  broker_.emplace(std::move(p));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(dir_.file("mosquitto/mosquitto.pid"),
                                                std::to_string(broker_->pid()) + "\n"));
  int port = mqttPort_;
  return waitForReady(
      *broker_, [port] { return tcpConnects(port); }, std::chrono::seconds(20), "mosquitto");
}

void HubFixture::stopBroker() { broker_.reset(); }

Status HubFixture::restartBroker() {
  stopBroker();
  return startBroker();
}

Status HubFixture::startHub() {
  if (hub_ && hub_->isRunning()) return Status::ok();
  hub_.reset();
  SubprocessOptions so;
  so.argv = {
      hubBinary_,      "run",         "--data-dir",        dataDir(),
      "--grpc-listen", grpcAddress(), "--http-listen",     "127.0.0.1:" + std::to_string(httpPort_),
      "--mqtt",        mqttUrl(),     "--broker-pid-file", dir_.file("mosquitto/mosquitto.pid")};
  if (!opts_.dashboardDir.empty()) {
    so.argv.push_back("--dashboard-dir");
    so.argv.push_back(opts_.dashboardDir);
  }
  for (const auto& f : opts_.extraFlags) so.argv.push_back(f);
  so.logFile = dir_.file("hub.log");
  so.workDir = dir_.path();
  SKIFF_ASSIGN_OR_RETURN(Subprocess p, Subprocess::start(std::move(so)));
  hub_.emplace(std::move(p));
  return waitHubReady();
}

Status HubFixture::waitHubReady() {
  std::string url = httpsUrl();
  std::string ca = caFile();
  std::string auth = "Authorization: Bearer " + adminToken_;
  return waitForReady(
      *hub_,
      [&] {
        HttpRequest req;
        req.url = url + "/api/v1/overview";
        req.caFile = ca;
        req.headers = {auth};
        req.timeout = std::chrono::seconds(5);
        auto r = httpRequest(req);
        if (!r.isOk() || r->status != 200) return false;
        auto j = common::parseJson(r->body);
        return j.isOk() && j->value("brokerConnected", false);
      },
      opts_.startTimeout, "skiff-hub");
}

void HubFixture::stopHub() { hub_.reset(); }

void HubFixture::killHub() {
  if (hub_) (void)hub_->signal(SIGKILL);
  hub_.reset();
}

Status HubFixture::restartHub() {
  stopHub();
  return startHub();
}

bool HubFixture::hubRunning() { return hub_ && hub_->isRunning(); }
pid_t HubFixture::hubPid() const { return hub_ ? hub_->pid() : -1; }
pid_t HubFixture::brokerPid() const { return broker_ ? broker_->pid() : -1; }
std::string HubFixture::hubLog() const {
  return common::readFile(dir_.file("hub.log")).valueOr("");
}
std::string HubFixture::brokerLog() const {
  return common::readFile(dir_.file("mosquitto.log")).valueOr("");
}

std::unique_ptr<v1::Hub::Stub> HubFixture::stub() const {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = common::readFile(caFile()).valueOr("");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  return v1::Hub::NewStub(
      grpc::CreateCustomChannel(grpcAddress(), grpc::SslCredentials(ssl), args));
}

std::unique_ptr<grpc::ClientContext> HubFixture::context(const std::string& token) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

Status HubFixture::createDevice(const std::string& id,
                                const std::map<std::string, std::string>& labels) {
  v1::CreateDeviceRequest req;
  req.set_id(id);
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  v1::Device d;
  return grpcStatus(stub()->CreateDevice(context().get(), req, &d));
}

Result<std::string> HubFixture::createEnrollmentToken(const std::string& id,
                                                      std::int64_t ttlSeconds) {
  v1::CreateEnrollmentTokenRequest req;
  req.set_device_id(id);
  req.set_ttl_seconds(ttlSeconds);
  v1::EnrollmentToken t;
  SKIFF_RETURN_IF_ERROR(grpcStatus(stub()->CreateEnrollmentToken(context().get(), req, &t)));
  return t.token();
}

Result<DeviceCredentials> HubFixture::enroll(const std::string& id, const std::string& token) {
  SKIFF_ASSIGN_OR_RETURN(auto key, common::tls::PrivateKey::generate());
  SKIFF_ASSIGN_OR_RETURN(auto csr, common::tls::CertificateRequest::create(key, id));
  SKIFF_ASSIGN_OR_RETURN(std::string csrPem, csr.toPem());
  HttpRequest req;
  req.method = "POST";
  req.url = httpsUrl() + "/api/v1/enroll";
  req.caFile = caFile();
  req.headers = {"Content-Type: application/json"};
  req.body = common::dumpJson(common::Json{{"token", token}, {"csr", csrPem}});
  SKIFF_ASSIGN_OR_RETURN(HttpResponse resp, httpRequest(req));
  if (resp.status != 200) return statusFromError(resp.status, resp.body);
  SKIFF_ASSIGN_OR_RETURN(common::Json doc, common::parseJson(resp.body));
  DeviceCredentials c;
  c.deviceId = doc.value("deviceId", "");
  // One set of files per enrollment: a re-enrolled device must not overwrite the old
  // certificate a test still holds.
  std::string base = dir_.file("test-devices/" + id + "-" + std::to_string(++enrollments_));
  c.certFile = base + ".pem";
  c.keyFile = base + ".key";
  c.caFile = base + "-ca.pem";
  c.mqttUrl = doc.value("mqttUrl", "");
  c.signingPublicKeyPem = doc.value("hubSigningPublicKey", "");
  c.renewUrl = doc.value("renewUrl", "");
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(c.certFile, doc.value("certificate", "")));
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, key.toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(c.keyFile, keyPem, 0600));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(c.caFile, doc.value("caCertificate", "")));
  return c;
}

Result<DeviceCredentials> HubFixture::enrollDevice(
    const std::string& id, const std::map<std::string, std::string>& labels) {
  SKIFF_RETURN_IF_ERROR(createDevice(id, labels));
  SKIFF_ASSIGN_OR_RETURN(std::string token, createEnrollmentToken(id));
  return enroll(id, token);
}

Result<DeviceCredentials> HubFixture::issueCertificate(const std::string& cn) {
  SKIFF_ASSIGN_OR_RETURN(std::string caPem, common::readFile(dir_.file("pki/ca.pem")));
  SKIFF_ASSIGN_OR_RETURN(std::string caKey, common::readFile(dir_.file("pki/ca.key")));
  SKIFF_ASSIGN_OR_RETURN(auto ca, common::tls::CertificateAuthority::fromPem(caPem, caKey));
  common::tls::IssueOptions io;
  io.commonName = cn;
  io.usage = common::tls::CertUsage::kClient;
  SKIFF_ASSIGN_OR_RETURN(auto kc, ca.issueNew(io));
  DeviceCredentials c;
  c.deviceId = cn;
  std::string base = dir_.file("test-devices/direct-" + cn);
  c.certFile = base + ".pem";
  c.keyFile = base + ".key";
  c.caFile = caFile();
  c.mqttUrl = mqttUrl();
  c.signingPublicKeyPem = signingPublicKeyPem();
  SKIFF_ASSIGN_OR_RETURN(std::string certPem, kc.cert.toPem());
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, kc.key.toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(c.certFile, certPem));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(c.keyFile, keyPem, 0600));
  return c;
}

SimDeviceOptions HubFixture::simDeviceOptions(const DeviceCredentials& c) const {
  SimDeviceOptions o;
  o.deviceId = c.deviceId;
  o.mqttUrl = c.mqttUrl.empty() ? mqttUrl() : c.mqttUrl;
  o.certFile = c.certFile;
  o.keyFile = c.keyFile;
  o.caFile = c.caFile;
  o.signingPublicKeyPem = c.signingPublicKeyPem;
  return o;
}

Result<std::string> HubFixture::metrics() const {
  HttpRequest req;
  req.url = httpsUrl() + "/metrics";
  req.caFile = caFile();
  SKIFF_ASSIGN_OR_RETURN(HttpResponse r, httpRequest(req));
  if (r.status != 200) return common::unavailable("/metrics: HTTP " + std::to_string(r.status));
  return r.body;
}

double HubFixture::metric(const std::string& sample) const {
  auto text = metrics();
  if (!text.isOk()) return 0;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > sample.size() && line.compare(0, sample.size(), sample) == 0 &&
        line[sample.size()] == ' ') {
      return std::strtod(line.c_str() + sample.size() + 1, nullptr);
    }
  }
  return 0;
}

}  // namespace skiff::test
