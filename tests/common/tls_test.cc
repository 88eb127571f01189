// Tests for common/tls: keys, signatures, CSRs, the CA toolkit, PEM parsing of bad input, and real
// TLS handshakes between SSL_CTXs configured by configureServerContext/configureClientContext.
#include "common/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace skiff::common::tls {
namespace {

using std::chrono::system_clock;

// Unwraps a Result the test depends on; gtest reports the exception as a test failure.
template <typename T>
T must(Result<T> r) {
  if (!r.isOk()) throw std::runtime_error(r.status().toString());
  return std::move(r).value();
}

std::vector<std::string> extKeyUsages(const Certificate& cert) {
  std::vector<std::string> out;
  auto* eku = static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert.raw(), NID_ext_key_usage, nullptr, nullptr));
  if (eku == nullptr) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku); ++i) {
    out.emplace_back(OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i))));
  }
  EXTENDED_KEY_USAGE_free(eku);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> organizations(const Certificate& cert) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert.raw());
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) >= 0;) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
  }
  return out;
}

// --- keys and signatures ---

class KeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTypeTest, PemRoundTripKeepsTheKey) {
  PrivateKey key = must(PrivateKey::generate(GetParam()));
  std::string pem = must(key.toPem());
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);  // PKCS#8
  PrivateKey back = must(PrivateKey::fromPem(pem));
  EXPECT_EQ(must(back.toPem()), pem);
  EXPECT_EQ(must(back.publicKeyPem()), must(key.publicKeyPem()));
  EXPECT_NE(must(key.publicKeyPem()).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_P(KeyTypeTest, SignatureVerifiesAndRejectsTampering) {
  PrivateKey key = must(PrivateKey::generate(GetParam()));
  std::string pub = must(key.publicKeyPem());
  std::string sig = must(key.sign("node-7 joins"));
  if (GetParam() == KeyType::kEd25519) {
    EXPECT_EQ(sig.size(), 64u);
  }

  EXPECT_TRUE(verifySignature(pub, "node-7 joins", sig).isOk());
  EXPECT_EQ(verifySignature(pub, "node-8 joins", sig).code(), StatusCode::kPermissionDenied);

  std::string flipped = sig;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(verifySignature(pub, "node-7 joins", flipped).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(verifySignature(pub, "node-7 joins", sig.substr(0, sig.size() - 3)).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(verifySignature(pub, "node-7 joins", "").code(), StatusCode::kPermissionDenied);

  // A signature forged by another key of the same type.
  PrivateKey other = must(PrivateKey::generate(GetParam()));
  EXPECT_EQ(verifySignature(pub, "node-7 joins", must(other.sign("node-7 joins"))).code(),
            StatusCode::kPermissionDenied);
}

INSTANTIATE_TEST_SUITE_P(Tls, KeyTypeTest, ::testing::Values(KeyType::kEcP256, KeyType::kEd25519),
                         [](const auto& info) {
                           return info.param == KeyType::kEcP256 ? "EcP256" : "Ed25519";
                         });

TEST(TlsKeys, EcAndEd25519KeysAreDistinctTypes) {
  PrivateKey ec = must(PrivateKey::generate(KeyType::kEcP256));
  PrivateKey ed = must(PrivateKey::generate(KeyType::kEd25519));
  EXPECT_TRUE(EVP_PKEY_is_a(ec.raw(), "EC"));
  EXPECT_TRUE(EVP_PKEY_is_a(ed.raw(), "ED25519"));
  // An Ed25519 signature does not verify under an EC key.
  EXPECT_FALSE(verifySignature(must(ec.publicKeyPem()), "x", must(ed.sign("x"))).isOk());
}

TEST(TlsKeys, EmptyKeyIsAnErrorNotACrash) {
  PrivateKey empty;
  EXPECT_EQ(empty.toPem().status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.sign("x").status().code(), StatusCode::kInvalidArgument);
}

// --- malformed PEM ---

TEST(TlsPem, MalformedInputIsInvalidArgument) {
  PrivateKey key = must(PrivateKey::generate());
  auto ca = must(CertificateAuthority::create("Skiff Test CA"));
  std::string certPem = must(ca.certificate().toPem());
  std::string keyPem = must(key.toPem());
  std::string csrPem = must(must(CertificateRequest::create(key, "n1")).toPem());

  const std::vector<std::string> bad = {
      "",
      "garbage",
      std::string("\x00\x01\x02\xff", 4),
      "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n",
      certPem.substr(0, certPem.size() / 2),
      keyPem.substr(0, keyPem.size() / 2),
      csrPem.substr(0, csrPem.size() - 30),
  };
  for (const std::string& pem : bad) {
    SCOPED_TRACE(pem);
    EXPECT_EQ(Certificate::fromPem(pem).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(Certificate::bundleFromPem(pem).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(PrivateKey::fromPem(pem).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CertificateRequest::fromPem(pem).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(verifySignature(pem, "x", "y").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(CertificateAuthority::fromPem(pem, keyPem).status().code(),
              StatusCode::kInvalidArgument);
  }
  auto garbage = Certificate::fromPem("garbage");
  EXPECT_NE(garbage.status().message().find("certificate: not valid PEM"), std::string::npos)
      << garbage.status();
  EXPECT_EQ(Certificate::fromPem("").status().message(), "certificate: empty PEM");
}

TEST(TlsPem, BundleLoadsEveryCertificateAndRejectsATruncatedOne) {
  auto ca1 = must(CertificateAuthority::create("CA one"));
  auto ca2 = must(CertificateAuthority::create("CA two"));
  std::string pem1 = must(ca1.certificate().toPem());
  std::string pem2 = must(ca2.certificate().toPem());

  auto bundle = must(Certificate::bundleFromPem(pem1 + pem2));
  ASSERT_EQ(bundle.size(), 2u);
  EXPECT_EQ(bundle[0].subjectCommonName(), "CA one");
  EXPECT_EQ(bundle[1].subjectCommonName(), "CA two");
  EXPECT_EQ(must(Certificate::bundleFromPem("# comment\n" + pem1)).size(), 1u);

  auto truncated = Certificate::bundleFromPem(pem1 + pem2.substr(0, pem2.size() / 2));
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
}

// --- CSRs ---

TEST(TlsCsr, CreateRoundTripAndVerify) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEd25519}) {
    PrivateKey key = must(PrivateKey::generate(type));
    auto csr = must(CertificateRequest::create(key, "system:node:edge-1", {"edge-1.local"}));
    EXPECT_EQ(csr.commonName(), "system:node:edge-1");
    EXPECT_TRUE(csr.verify().isOk());
    std::string pem = must(csr.toPem());
    EXPECT_NE(pem.find("BEGIN CERTIFICATE REQUEST"), std::string::npos);
    auto back = must(CertificateRequest::fromPem(pem));
    EXPECT_EQ(back.commonName(), "system:node:edge-1");
    EXPECT_TRUE(back.verify().isOk());
  }
}

// A CSR whose public key was swapped after signing: no proof of possession.
std::string csrWithSwappedKey(const PrivateKey& signer, const PrivateKey& claimed) {
  std::string pem = must(must(CertificateRequest::create(signer, "mallory")).toPem());
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  EXPECT_NE(req, nullptr);
  EXPECT_EQ(X509_REQ_set_pubkey(req, claimed.raw()), 1);
  BIO* out = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_X509_REQ(out, req), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string result(data, static_cast<size_t>(len));
  BIO_free(out);
  X509_REQ_free(req);
  return result;
}

TEST(TlsCsr, TamperedCsrFailsVerificationAndIsNotIssued) {
  auto ca = must(CertificateAuthority::create("Skiff Test CA"));
  PrivateKey signer = must(PrivateKey::generate());
  PrivateKey victim = must(PrivateKey::generate());
  auto csr = must(CertificateRequest::fromPem(csrWithSwappedKey(signer, victim)));
  EXPECT_EQ(csr.verify().code(), StatusCode::kInvalidArgument);
  IssueOptions opts;
  opts.commonName = "mallory";
  EXPECT_EQ(ca.issue(csr, opts).status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsCsr, EmptyCommonNameNeedsOneFromOptions) {
  auto ca = must(CertificateAuthority::create("Skiff Test CA"));
  PrivateKey key = must(PrivateKey::generate());
  auto csr = must(CertificateRequest::create(key, ""));
  EXPECT_EQ(csr.commonName(), "");
  EXPECT_TRUE(csr.verify().isOk());

  IssueOptions opts;
  EXPECT_EQ(ca.issue(csr, opts).status().code(), StatusCode::kInvalidArgument);
  opts.commonName = "assigned-by-ca";
  EXPECT_EQ(must(ca.issue(csr, opts)).subjectCommonName(), "assigned-by-ca");
}

// --- CA ---

TEST(TlsCa, SelfSignedCaHasCaExtensions) {
  auto ca = must(CertificateAuthority::create("Skiff Root", std::chrono::hours(24)));
  const Certificate& cert = ca.certificate();
  EXPECT_TRUE(cert.isCa());
  EXPECT_EQ(cert.subjectCommonName(), "Skiff Root");
  EXPECT_EQ(cert.issuerCommonName(), "Skiff Root");
  EXPECT_TRUE(ca.verify(cert).isOk());
  EXPECT_EQ(X509_get_key_usage(cert.raw()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  int critical = 0;
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.raw(), NID_basic_constraints, &critical, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(critical, 1);
  BASIC_CONSTRAINTS_free(bc);
  ASSERT_NE(X509_get0_subject_key_id(cert.raw()), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(cert.raw()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(cert.raw()),
                                  X509_get0_authority_key_id(cert.raw())),
            0);

  auto now = system_clock::now();
  EXPECT_LT(cert.notBefore(), now);
  EXPECT_GT(cert.notAfter(), now + std::chrono::hours(23));
  EXPECT_LT(cert.notAfter(), now + std::chrono::hours(25));
}

TEST(TlsCa, RoundTripsThroughPem) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  auto back =
      must(CertificateAuthority::fromPem(must(ca.certificate().toPem()), must(ca.key().toPem())));
  EXPECT_EQ(back.certificate().fingerprintSha256(), ca.certificate().fingerprintSha256());
  IssueOptions opts;
  opts.commonName = "after-reload";
  auto leaf = must(back.issueNew(opts));
  EXPECT_TRUE(ca.verify(leaf.cert).isOk());

  // A key that does not belong to the certificate, and a non-CA certificate, are refused.
  PrivateKey other = must(PrivateKey::generate());
  EXPECT_EQ(CertificateAuthority::fromPem(must(ca.certificate().toPem()), must(other.toPem()))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CertificateAuthority::fromPem(must(leaf.cert.toPem()), must(leaf.key.toPem()))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(TlsCa, IssuesServerCertificateWithSansAndFields) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  PrivateKey key = must(PrivateKey::generate());
  auto csr = must(CertificateRequest::create(key, "hub", {"ignored.example"}));
  IssueOptions opts;
  opts.dnsNames = {"hub.skiff.local", "localhost"};
  opts.ipAddresses = {"127.0.0.1", "::1", "10.0.0.7"};
  opts.usage = CertUsage::kServer;
  opts.validity = std::chrono::hours(48);
  auto cert = must(ca.issue(csr, opts));

  EXPECT_EQ(cert.subjectCommonName(), "hub");  // taken from the CSR
  EXPECT_EQ(cert.issuerCommonName(), "Skiff Root");
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert.raw()),
                          X509_get_subject_name(ca.certificate().raw())),
            0);
  EXPECT_EQ(cert.dnsNames(), (std::vector<std::string>{"hub.skiff.local", "localhost"}));
  EXPECT_EQ(cert.ipAddresses(), (std::vector<std::string>{"127.0.0.1", "::1", "10.0.0.7"}));
  EXPECT_FALSE(cert.isCa());
  EXPECT_EQ(extKeyUsages(cert), (std::vector<std::string>{"serverAuth"}));
  EXPECT_TRUE(X509_get_key_usage(cert.raw()) & KU_DIGITAL_SIGNATURE);
  EXPECT_FALSE(X509_get_key_usage(cert.raw()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.raw()),
                                  X509_get0_subject_key_id(ca.certificate().raw())),
            0);
  EXPECT_EQ(X509_check_private_key(cert.raw(), key.raw()), 1);

  // Backdated for clock skew; 128-bit serial; SHA-256 fingerprint.
  auto now = system_clock::now();
  EXPECT_LT(cert.notBefore(), now - std::chrono::minutes(4));
  EXPECT_GT(cert.notBefore(), now - std::chrono::minutes(6));
  EXPECT_GT(cert.notAfter(), now + std::chrono::hours(47));
  EXPECT_LE(cert.serialHex().size(), 32u);
  EXPECT_GE(cert.serialHex().size(), 20u);
  EXPECT_EQ(cert.fingerprintSha256().size(), 64u);
  EXPECT_EQ(cert.fingerprintSha256().find_first_not_of("0123456789abcdef"), std::string::npos);

  EXPECT_TRUE(ca.verify(cert).isOk());
  auto second = must(ca.issue(csr, opts));
  EXPECT_NE(second.serialHex(), cert.serialHex());
}

TEST(TlsCa, IssuesClientCertificateWithOrganizations) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  IssueOptions opts;
  opts.commonName = "system:node:edge-1";
  opts.organizations = {"system:nodes", "skiff:edge"};
  auto issued = must(ca.issueNew(opts));
  EXPECT_EQ(issued.cert.subjectCommonName(), "system:node:edge-1");
  EXPECT_EQ(organizations(issued.cert), (std::vector<std::string>{"system:nodes", "skiff:edge"}));
  EXPECT_EQ(extKeyUsages(issued.cert), (std::vector<std::string>{"clientAuth"}));
  EXPECT_TRUE(issued.cert.dnsNames().empty());
  EXPECT_EQ(X509_check_private_key(issued.cert.raw(), issued.key.raw()), 1);

  opts.usage = CertUsage::kServerAndClient;
  EXPECT_EQ(extKeyUsages(must(ca.issueNew(opts)).cert),
            (std::vector<std::string>{"clientAuth", "serverAuth"}));
}

TEST(TlsCa, RejectsBadIssueOptions) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  IssueOptions opts;
  opts.commonName = "x";
  opts.ipAddresses = {"not-an-ip"};
  EXPECT_EQ(ca.issueNew(opts).status().code(), StatusCode::kInvalidArgument);
  opts.ipAddresses.clear();
  opts.validity = std::chrono::seconds(0);
  EXPECT_EQ(ca.issueNew(opts).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CertificateAuthority::create("").status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsCa, VerifyRejectsCertificatesFromAnotherCa) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  auto other = must(CertificateAuthority::create("Skiff Root"));  // same name, different key
  IssueOptions opts;
  opts.commonName = "edge-1";
  auto foreign = must(other.issueNew(opts));
  Status s = ca.verify(foreign.cert);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("certificate: "), std::string::npos) << s;
  EXPECT_EQ(ca.verify(other.certificate()).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(other.verify(foreign.cert).isOk());
}

TEST(TlsCa, VerifyRejectsAnExpiredCertificate) {
  auto ca = must(CertificateAuthority::create("Skiff Root"));
  IssueOptions opts;
  opts.commonName = "short-lived";
  opts.validity = std::chrono::seconds(1);
  auto issued = must(ca.issueNew(opts));
  EXPECT_TRUE(ca.verify(issued.cert).isOk());
  // X.509 times have one-second resolution: wait until notAfter is strictly in the past.
  std::this_thread::sleep_until(issued.cert.notAfter() + std::chrono::milliseconds(1100));
  Status s = ca.verify(issued.cert);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s;
}

// --- TLS handshakes ---

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "skiff-tls-XXXXXX").string();
    char* dir = mkdtemp(tmpl.data());
    EXPECT_NE(dir, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    std::string p = (path_ / name).string();
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

struct HandshakeResult {
  bool clientOk = false;  // handshake done and an application-data round trip succeeded
  bool serverOk = false;
  std::string alpn;  // what the client saw negotiated
};

void setTimeouts(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Runs a server and a client SSL over a socketpair. TLS 1.3 clients finish their handshake before
// the server has judged the client certificate, so success means a full echo round trip.
HandshakeResult runHandshake(SSL_CTX* serverCtx, SSL_CTX* clientCtx) {
  // A peer that gave up closes its end; writing to it must fail with EPIPE, not kill the test.
  std::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  setTimeouts(fds[0]);
  setTimeouts(fds[1]);
  HandshakeResult result;

  std::thread server([&] {
    SslPtr ssl(SSL_new(serverCtx), SSL_free);
    SSL_set_fd(ssl.get(), fds[0]);
    char buf[4];
    if (SSL_accept(ssl.get()) == 1 && SSL_read(ssl.get(), buf, sizeof(buf)) == 4 &&
        SSL_write(ssl.get(), buf, 4) == 4) {
      result.serverOk = true;
      SSL_shutdown(ssl.get());
    }
    shutdown(fds[0], SHUT_RDWR);  // unblock the client if we bailed out
  });

  SslPtr ssl(SSL_new(clientCtx), SSL_free);
  SSL_set_fd(ssl.get(), fds[1]);
  char buf[4];
  if (SSL_connect(ssl.get()) == 1) {
    const unsigned char* alpn = nullptr;
    unsigned int alpnLen = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpnLen);
    result.alpn.assign(reinterpret_cast<const char*>(alpn), alpnLen);
    result.clientOk = SSL_write(ssl.get(), "ping", 4) == 4 &&
                      SSL_read(ssl.get(), buf, sizeof(buf)) == 4 && std::string(buf, 4) == "ping";
  }
  shutdown(fds[1], SHUT_RDWR);
  server.join();
  close(fds[0]);
  close(fds[1]);
  ERR_clear_error();
  return result;
}

class TlsHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = must(CertificateAuthority::create("Skiff Root"));
    auto otherCa = must(CertificateAuthority::create("Other Root"));
    IssueOptions serverOpts;
    serverOpts.commonName = "hub";
    serverOpts.dnsNames = {"localhost"};
    serverOpts.usage = CertUsage::kServer;
    IssueOptions clientOpts;
    clientOpts.commonName = "edge-1";
    auto server = must(ca.issueNew(serverOpts));
    auto client = must(ca.issueNew(clientOpts));
    auto foreignClient = must(otherCa.issueNew(clientOpts));

    caFile_ = dir_.write("ca.pem", must(ca.certificate().toPem()));
    serverFiles_ = {dir_.write("server.pem", must(server.cert.toPem())),
                    dir_.write("server.key", must(server.key.toPem())), caFile_};
    clientFiles_ = {dir_.write("client.pem", must(client.cert.toPem())),
                    dir_.write("client.key", must(client.key.toPem())), caFile_};
    foreignClientFiles_ = {dir_.write("foreign.pem", must(foreignClient.cert.toPem())),
                           dir_.write("foreign.key", must(foreignClient.key.toPem())), caFile_};
  }

  SslCtxPtr serverCtx(ClientAuth auth = ClientAuth::kRequired,
                      const std::vector<std::string>& alpn = {"http/1.1"}) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    Status s = configureServerContext(ctx.get(), serverFiles_, auth, alpn);
    EXPECT_TRUE(s.isOk()) << s;
    return ctx;
  }
  SslCtxPtr clientCtx(const TlsFiles& files, std::string_view alpnWire = "") {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    Status s = configureClientContext(ctx.get(), files);
    EXPECT_TRUE(s.isOk()) << s;
    if (!alpnWire.empty()) {
      EXPECT_EQ(SSL_CTX_set_alpn_protos(ctx.get(),
                                        reinterpret_cast<const unsigned char*>(alpnWire.data()),
                                        static_cast<unsigned int>(alpnWire.size())),
                0);
    }
    return ctx;
  }

  TempDir dir_;
  std::string caFile_;
  TlsFiles serverFiles_, clientFiles_, foreignClientFiles_;
};

TEST_F(TlsHandshakeTest, MutualTlsSucceedsWithAGoodClientCertificate) {
  auto server = serverCtx();
  auto client = clientCtx(clientFiles_);
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_TRUE(r.serverOk);
  EXPECT_TRUE(r.clientOk);
  EXPECT_EQ(r.alpn, "");  // the client offered no ALPN
}

TEST_F(TlsHandshakeTest, RejectsAClientCertificateFromAnotherCa) {
  auto server = serverCtx();
  auto client = clientCtx(foreignClientFiles_);
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_FALSE(r.serverOk);
  EXPECT_FALSE(r.clientOk);
}

TEST_F(TlsHandshakeTest, RequiredClientAuthRejectsAClientWithoutCertificate) {
  auto server = serverCtx();
  auto client = clientCtx({"", "", caFile_});
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_FALSE(r.serverOk);
  EXPECT_FALSE(r.clientOk);

  // With optional client auth the same client gets in.
  auto optional = serverCtx(ClientAuth::kOptional);
  auto client2 = clientCtx({"", "", caFile_});
  EXPECT_TRUE(runHandshake(optional.get(), client2.get()).clientOk);
}

TEST_F(TlsHandshakeTest, ClientRejectsAServerFromAnotherCa) {
  auto otherCa = must(CertificateAuthority::create("Other Root"));
  std::string otherCaFile = dir_.write("other-ca.pem", must(otherCa.certificate().toPem()));
  auto server = serverCtx(ClientAuth::kNone);
  auto client = clientCtx({"", "", otherCaFile});
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_FALSE(r.clientOk);
  EXPECT_FALSE(r.serverOk);
}

TEST_F(TlsHandshakeTest, AlpnNegotiatesHttp11AndNeverH2) {
  auto server = serverCtx();
  auto client = clientCtx(clientFiles_, std::string_view("\x02h2\x08http/1.1", 12));
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_TRUE(r.clientOk);
  EXPECT_EQ(r.alpn, "http/1.1");
}

TEST_F(TlsHandshakeTest, AlpnWithoutOverlapNegotiatesNothingButConnects) {
  auto server = serverCtx();
  auto client = clientCtx(clientFiles_, std::string_view("\x02h2", 3));
  HandshakeResult r = runHandshake(server.get(), client.get());
  EXPECT_TRUE(r.serverOk);
  EXPECT_TRUE(r.clientOk);
  EXPECT_EQ(r.alpn, "");
}

TEST_F(TlsHandshakeTest, ReconfiguringReplacesTheAlpnList) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  ASSERT_TRUE(configureServerContext(ctx.get(), serverFiles_, ClientAuth::kRequired).isOk());
  ASSERT_TRUE(
      configureServerContext(ctx.get(), serverFiles_, ClientAuth::kRequired, {"h2", "http/1.1"})
          .isOk());
  auto client = clientCtx(clientFiles_, std::string_view("\x08http/1.1\x02h2", 12));
  EXPECT_EQ(runHandshake(ctx.get(), client.get()).alpn, "h2");  // server preference order
}

TEST_F(TlsHandshakeTest, ConfigurationErrors) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  EXPECT_EQ(configureServerContext(nullptr, serverFiles_, ClientAuth::kNone).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      configureServerContext(ctx.get(), {serverFiles_.certFile, "", ""}, ClientAuth::kNone).code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(configureServerContext(ctx.get(), {serverFiles_.certFile, serverFiles_.keyFile, ""},
                                   ClientAuth::kRequired)
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(configureServerContext(ctx.get(), {"/nonexistent/cert.pem", serverFiles_.keyFile, ""},
                                   ClientAuth::kNone)
                .code(),
            StatusCode::kNotFound);
  // Key of another certificate.
  EXPECT_EQ(configureServerContext(ctx.get(), {serverFiles_.certFile, clientFiles_.keyFile, ""},
                                   ClientAuth::kNone)
                .code(),
            StatusCode::kInvalidArgument);
  std::string garbage = dir_.write("garbage.pem", "garbage");
  EXPECT_EQ(
      configureServerContext(ctx.get(), {garbage, serverFiles_.keyFile, ""}, ClientAuth::kNone)
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(configureServerContext(ctx.get(), serverFiles_, ClientAuth::kNone, {""}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);

  SslCtxPtr client(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  EXPECT_EQ(configureClientContext(client.get(), {clientFiles_.certFile, "", caFile_}).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(configureClientContext(client.get(), {"", "", caFile_}).isOk());
  EXPECT_EQ(SSL_CTX_get_verify_mode(client.get()), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(client.get()), TLS1_2_VERSION);
}

}  // namespace
}  // namespace skiff::common::tls
