// End-to-end check that skiff::proto stubs and common/tls certificates work together: a System
// server on loopback requiring mutual TLS, called by clients with and without valid credentials.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/tls.h"
#include "skiff/v1/system.grpc.pb.h"

namespace skiff::proto {
namespace {

using common::Result;
using common::tls::CertificateAuthority;
using common::tls::CertUsage;
using common::tls::IssueOptions;

constexpr int64_t kStartedAt = 1700000000;

template <typename T>
T must(Result<T> r) {
  if (!r.isOk()) throw std::runtime_error(r.status().toString());
  return std::move(r).value();
}

class SystemService final : public v1::System::Service {
 public:
  grpc::Status GetInfo(grpc::ServerContext* /*ctx*/, const v1::GetInfoRequest* /*req*/,
                       v1::SystemInfo* info) override {
    info->set_component("skiff-test");
    info->set_version("0.1.0");
    info->set_started_at_unix(kStartedAt);
    return grpc::Status::OK;
  }
  grpc::Status Ping(grpc::ServerContext* /*ctx*/, const v1::PingRequest* req,
                    v1::PingResponse* resp) override {
    resp->set_payload(req->payload());
    return grpc::Status::OK;
  }
};

struct Pem {
  std::string cert;
  std::string key;
};

Pem issuePem(const CertificateAuthority& ca, const IssueOptions& opts) {
  auto issued = must(ca.issueNew(opts));
  return {must(issued.cert.toPem()), must(issued.key.toPem())};
}

class GrpcTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new CertificateAuthority(must(CertificateAuthority::create("Skiff Test CA")));
    otherCa_ = new CertificateAuthority(must(CertificateAuthority::create("Other CA")));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete otherCa_;
  }

  void SetUp() override {
    IssueOptions serverOpts;
    serverOpts.commonName = "hub";
    serverOpts.dnsNames = {"localhost"};
    serverOpts.ipAddresses = {"127.0.0.1"};
    serverOpts.usage = CertUsage::kServer;
    Pem server = issuePem(*ca_, serverOpts);

    grpc::SslServerCredentialsOptions opts(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = must(ca_->certificate().toPem());
    opts.pem_key_cert_pairs.push_back({server.key, server.cert});

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(opts), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  std::unique_ptr<v1::System::Stub> stub(const CertificateAuthority& trusted, const Pem* client) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = must(trusted.certificate().toPem());
    if (client != nullptr) {
      opts.pem_private_key = client->key;
      opts.pem_cert_chain = client->cert;
    }
    // 127.0.0.1 is matched against the server certificate's IP SAN.
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(opts));
    return v1::System::NewStub(channel);
  }

  static std::unique_ptr<grpc::ClientContext> callContext() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  Pem clientPem(const CertificateAuthority& ca) {
    IssueOptions opts;
    opts.commonName = "edge-1";
    opts.usage = CertUsage::kClient;
    return issuePem(ca, opts);
  }

  static CertificateAuthority* ca_;
  static CertificateAuthority* otherCa_;
  SystemService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

CertificateAuthority* GrpcTlsTest::ca_ = nullptr;
CertificateAuthority* GrpcTlsTest::otherCa_ = nullptr;

TEST_F(GrpcTlsTest, MutualTlsCallsSucceed) {
  Pem client = clientPem(*ca_);
  auto s = stub(*ca_, &client);

  v1::SystemInfo info;
  grpc::Status status = s->GetInfo(callContext().get(), v1::GetInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(info.component(), "skiff-test");
  EXPECT_EQ(info.version(), "0.1.0");
  EXPECT_EQ(info.started_at_unix(), kStartedAt);

  v1::PingRequest ping;
  ping.set_payload("hello over mTLS");
  v1::PingResponse pong;
  status = s->Ping(callContext().get(), ping, &pong);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(pong.payload(), "hello over mTLS");
}

TEST_F(GrpcTlsTest, ClientWithoutCertificateIsRejected) {
  auto s = stub(*ca_, nullptr);
  v1::SystemInfo info;
  grpc::Status status = s->GetInfo(callContext().get(), v1::GetInfoRequest(), &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(GrpcTlsTest, ClientCertificateFromAnotherCaIsRejected) {
  Pem client = clientPem(*otherCa_);
  auto s = stub(*ca_, &client);
  v1::SystemInfo info;
  grpc::Status status = s->GetInfo(callContext().get(), v1::GetInfoRequest(), &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(GrpcTlsTest, ClientTrustingAnotherCaRejectsTheServer) {
  Pem client = clientPem(*ca_);
  auto s = stub(*otherCa_, &client);
  v1::PingResponse pong;
  grpc::Status status = s->Ping(callContext().get(), v1::PingRequest(), &pong);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

}  // namespace
}  // namespace skiff::proto
