// SimDevice: SimAgent over common::bus.
#include "tests/support/sim_device.h"

namespace skiff::test {

using common::Status;

SimDevice::SimDevice(SimDeviceOptions opts)
    : opts_(std::move(opts)), agent_(opts_.deviceId, opts_.signingPublicKeyPem, opts_.arch) {}

SimDevice::~SimDevice() { stop(); }

common::Result<std::unique_ptr<SimDevice>> SimDevice::start(SimDeviceOptions opts) {
  std::unique_ptr<SimDevice> d(new SimDevice(std::move(opts)));
  common::bus::BusOptions bo;
  bo.url = d->opts_.mqttUrl;
  bo.clientId = d->opts_.clientId.empty() ? d->opts_.deviceId : d->opts_.clientId;
  bo.tls = common::tls::TlsFiles{d->opts_.certFile, d->opts_.keyFile, d->opts_.caFile};
  bo.minReconnectDelay = std::chrono::milliseconds(100);
  bo.maxReconnectDelay = std::chrono::milliseconds(1000);
  OutMessage will = d->agent_.will();
  bo.will = common::bus::Message{will.topic, will.payload, will.qos, will.retained};
  SKIFF_ASSIGN_OR_RETURN(d->bus_, common::bus::makePahoBus(bo));
  SimDevice* self = d.get();
  d->bus_->setHandlers(
      [self](const common::bus::Message& m) {
        self->publishAll(self->agent_.onMessage(m.topic, m.payload, m.responseTopic));
      },
      [self](bool up, const std::string&) {
        if (up) {
          ++self->connects_;
          self->publishAll(self->agent_.hello());
        } else {
          ++self->disconnects_;
        }
      });
  for (const auto& t : d->agent_.subscriptions()) SKIFF_RETURN_IF_ERROR(d->bus_->subscribe(t, 1));
  d->bus_->start();
  d->ticker_ = std::thread([self] {
    while (!self->stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (self->bus_->isConnected()) self->publishAll(self->agent_.tick());
    }
  });
  return d;
}

void SimDevice::publishAll(const std::vector<OutMessage>& msgs) {
  for (const auto& m : msgs) {
    (void)bus_->publish(common::bus::Message{m.topic, m.payload, m.qos, m.retained});
  }
}

Status SimDevice::waitConnected(std::chrono::milliseconds timeout) {
  return bus_->waitConnected(timeout);
}

bool SimDevice::waitFor(const std::function<bool(SimAgent&)>& pred,
                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(agent_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred(agent_);
}

Status SimDevice::publishRaw(const std::string& topic, const std::string& payload, int qos,
                             bool retained) {
  return common::bus::publishAndWait(*bus_, common::bus::Message{topic, payload, qos, retained},
                                     std::chrono::seconds(10));
}

Status SimDevice::sendReport() {
  OutMessage m = agent_.report();
  return publishRaw(m.topic, m.payload, m.qos, m.retained);
}

Status SimDevice::sendMetrics() {
  OutMessage m = agent_.metrics();
  return publishRaw(m.topic, m.payload, m.qos, m.retained);
}

void SimDevice::writeLog(const std::string& module, const std::string& line) {
  publishAll(agent_.writeLog(module, line));
}

void SimDevice::stop() {
  if (stopping_.exchange(true)) return;
  if (ticker_.joinable()) ticker_.join();
  if (bus_) bus_->stop();
}

}  // namespace skiff::test
