// The MessageBus seam (docs/architecture.md "Seams"): publish / subscribe over MQTT v5 for the
// hub and the agent. The rest of the code never touches Paho types.
//
// Model: one long-lived connection that the bus keeps up by itself. start() connects in the
// background and reconnects after any loss with exponential backoff and jitter until stop().
// Subscriptions are remembered and re-applied on every (re)connect. Publishing while
// disconnected fails at once (Unavailable): callers are level-triggered and publish their current
// state again from the connection handler, instead of flushing a backlog of stale messages.
//
// Threading: every method is thread-safe. Handlers run on the bus's single callback thread, one
// at a time, in arrival order; they must not block for long and must not wait for a delivery
// (publishAndWait) — hand work to another thread instead. Publishing from a handler is fine.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/tls.h"

namespace skiff::common::bus {

struct Message {
  std::string topic;
  std::string payload;
  int qos = 1;  // 0 or 1
  bool retained = false;
  // MQTT v5 request/response properties; empty when absent.
  std::string responseTopic;
  std::string correlationData;
};

struct BusOptions {
  std::string url;  // mqtt://host:port or mqtts://host:port
  std::string clientId;
  // mqtts: client certificate + key (certFile/keyFile, optional) and the CA that verifies the
  // broker (caFile, required).
  std::optional<tls::TlsFiles> tls;
  std::string username;  // plain brokers only (with TLS the certificate CN is the identity)
  std::string password;
  // false: persistent session (QoS 1 messages queued by the broker while we are away).
  bool cleanStart = false;
  std::chrono::seconds sessionExpiry{7 * 24 * 3600};
  std::chrono::seconds keepAlive{30};
  std::optional<Message> will;  // Last Will, published by the broker if we vanish
  std::chrono::milliseconds minReconnectDelay{500};
  std::chrono::milliseconds maxReconnectDelay{30000};
  std::chrono::seconds connectTimeout{10};
  int maxInflight = 256;  // unacknowledged QoS 1 publishes on the wire
};

class MessageBus {
 public:
  using MessageHandler = std::function<void(const Message&)>;
  // connected: true after every successful (re)connect, false after a loss; reason explains.
  using ConnectionHandler = std::function<void(bool connected, const std::string& reason)>;
  // Delivery outcome of one publish: Ok once the broker acknowledged it (QoS 1) or it was written
  // (QoS 0); Unavailable if the connection dropped first.
  using DeliveryCallback = std::function<void(const Status&)>;

  virtual ~MessageBus() = default;
  // Installs the handlers. Call before start(); not changed afterwards.
  virtual void setHandlers(MessageHandler onMessage, ConnectionHandler onConnection) = 0;
  // Adds a subscription (applied now if connected, and on every reconnect). Idempotent per
  // filter. InvalidArgument for an empty filter or a QoS other than 0/1.
  virtual Status subscribe(const std::string& filter, int qos) = 0;
  // Starts connecting in the background. Non-blocking; call once.
  virtual void start() = 0;
  // Blocks until connected or timeout (DeadlineExceeded), or stop() (Unavailable).
  virtual Status waitConnected(std::chrono::milliseconds timeout) = 0;
  // Hands the message to the connection. Non-blocking. Unavailable while disconnected or
  // stopping; InvalidArgument for a bad topic or QoS. onDelivered, if given, runs later on the
  // callback thread with the outcome.
  virtual Status publish(const Message& m, DeliveryCallback onDelivered = {}) = 0;
  virtual bool isConnected() const = 0;
  // Disconnects cleanly (the broker does not publish the Last Will), stops reconnecting and joins
  // the bus's threads. Idempotent; blocks up to a few seconds.
  virtual void stop() = 0;
};

// Publishes and blocks until the delivery outcome or timeout (DeadlineExceeded). Never call from a
// bus handler.
Status publishAndWait(MessageBus& bus, const Message& m, std::chrono::milliseconds timeout);

// The production bus over Paho MQTT C (MQTTAsync, MQTT v5). InvalidArgument for a bad URL,
// missing CA for mqtts, or unreadable certificate files.
Result<std::unique_ptr<MessageBus>> makePahoBus(BusOptions opts);

}  // namespace skiff::common::bus
