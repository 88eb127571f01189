// skiff-hub as a library: wires the data directory, the Store, the fleet, the MQTT side (bus,
// publisher, router, RPC), revocation (BrokerSync), enrollment and the two listeners (gRPC and
// HTTPS). main() goes through run(); tests and benchmarks may start it in-process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "hub/data_dir.h"
#include "hub/options.h"

namespace skiff::hub {

namespace fleet {
class Fleet;
}

class Hub {
 public:
  // Starts everything; the broker may be down (the hub keeps reconnecting). InvalidArgument
  // for an uninitialized data dir, Unavailable when a listener cannot bind.
  static common::Result<std::unique_ptr<Hub>> start(const Options& o);
  virtual ~Hub() = default;
  virtual std::string grpcAddress() const = 0;  // host:port
  virtual std::string httpsUrl() const = 0;     // https://host:port
  virtual const DataDirLayout& layout() const = 0;
  virtual fleet::Fleet& fleet() = 0;
  // Clean shutdown: listeners, publisher drain, MQTT disconnect, store flush. Idempotent.
  virtual void stop() = 0;
};

}  // namespace skiff::hub
