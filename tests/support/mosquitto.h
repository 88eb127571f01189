// MosquittoFixture: a real Mosquitto broker on an ephemeral 127.0.0.1 port in its own temp dir,
// plain or mutual TLS. In TLS mode it owns a test CA (via common/tls.h), a server certificate
// (CN localhost, SAN IP 127.0.0.1 + DNS localhost), issues client certificates per CN (the CN is
// the MQTT username through use_identity_as_username) and a second, unrelated CA for "wrong
// certificate" clients. The default ACL is Skiff's device/hub topic contract (docs/mqtt).
//
// stop()/start()/restart() keep the port and the config, so broker-outage tests can take the
// broker away and bring it back where clients reconnect.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <mqtt/ssl_options.h>

#include "common/status.h"
#include "tests/support/process.h"

namespace skiff::test {

struct MosquittoOptions {
  bool tls = false;
  // TLS only: replaces MosquittoFixture::defaultAcl() as the acl_file content.
  std::optional<std::string> acl;
  // Keep broker state (retained messages, persistent sessions) in <dir>/persistence/ across
  // restart(). Off: `persistence false`.
  bool persistence = false;
  // Appended verbatim to mosquitto.conf (after the listener block).
  std::string extraConfig;
  std::chrono::milliseconds startTimeout = std::chrono::seconds(10);
};

// PEM files a TLS client presents: its certificate and key, plus the CA that verifies the broker.
struct TlsClientFiles {
  std::string certFile;
  std::string keyFile;
  std::string caFile;
};

class MosquittoFixture {
 public:
  // Writes config (and certificates in TLS mode), starts the broker and waits until it accepts TCP
  // connections. Blocks up to opts.startTimeout.
  static common::Result<std::unique_ptr<MosquittoFixture>> create(MosquittoOptions opts = {});
  // Device topics per %u (= certificate CN) and a `user hub` with readwrite skiff/#.
  static std::string defaultAcl();

  ~MosquittoFixture();  // stops the broker; prints its log tail if the current test failed
  MosquittoFixture(const MosquittoFixture&) = delete;
  MosquittoFixture& operator=(const MosquittoFixture&) = delete;

  std::string host() const { return "127.0.0.1"; }
  int port() const { return port_; }
  // "mqtt://127.0.0.1:<port>" or "mqtts://127.0.0.1:<port>" (Paho server URI).
  std::string url() const;
  bool tls() const { return opts_.tls; }
  // CA that signed the broker certificate; "" in plain mode.
  std::string caFile() const;
  // Client certificate + key signed by the broker's CA, CN = cn (files under <dir>/certs/).
  common::Result<TlsClientFiles> issueClientCert(std::string_view cn);
  // Signs a CSR (PEM) with the broker's CA as a client certificate with CN = cn, as a hub's
  // enrollment CA does; returns the certificate PEM. TLS mode only.
  common::Result<std::string> signClientCsr(std::string_view csrPem, std::string_view cn,
                                            std::chrono::seconds validity = std::chrono::hours(24));
  // Same, but signed by an unrelated CA: the broker must reject it. caFile is the broker's CA.
  common::Result<TlsClientFiles> issueWrongCaClientCert(std::string_view cn);

  // Stops the broker (SIGTERM, SIGKILL after 5 s). Idempotent.
  void stop();
  // Starts it again on the same port with the same config; waits until ready.
  common::Status start();
  common::Status restart();
  bool isRunning();

  const std::string& dir() const { return dir_.path(); }
  std::string configFile() const { return dir_.file("mosquitto.conf"); }
  std::string logContents() const;

 private:
  struct Pki;
  MosquittoFixture(MosquittoOptions opts, TempDir dir, int port);
  common::Status writeConfig();
  common::Result<TlsClientFiles> issue(bool wrongCa, std::string_view cn);

  MosquittoOptions opts_;
  TempDir dir_;
  int port_;
  std::unique_ptr<Pki> pki_;
  std::optional<Subprocess> proc_;
};

// Paho ssl_options for a client presenting files (trust store = files.caFile, server certificate
// and host name verified).
mqtt::ssl_options pahoSslOptions(const TlsClientFiles& files);

}  // namespace skiff::test
