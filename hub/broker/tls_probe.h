// A one-shot MQTT-over-TLS connect (OpenSSL adapter) used to confirm that the broker really
// refuses a revoked certificate: it performs the TLS handshake with a client certificate, sends
// an MQTT 3.1.1 CONNECT and reads the CONNACK. Blocking, bounded by a timeout; thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "common/net.h"
#include "common/status.h"
#include "common/tls.h"

namespace skiff::hub::broker {

enum class ProbeOutcome { kAccepted, kRefused };

// kAccepted: CONNACK with return code 0. kRefused: the handshake failed, the broker closed
// the connection or answered CONNACK with an error. Unavailable when nothing listens at
// `broker` (or the timeout passed before any answer).
common::Result<ProbeOutcome> probeMqttTls(const common::HostPort& broker,
                                          const common::tls::TlsFiles& client,
                                          const std::string& clientId,
                                          std::chrono::milliseconds timeout);

}  // namespace skiff::hub::broker
