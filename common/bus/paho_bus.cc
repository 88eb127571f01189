// MessageBus over Paho MQTT C++ (MQTT v5). The only file that includes Paho; every Paho exception
// is caught here and becomes a Status.
//
// Connection management is ours, not Paho's automatic reconnect, so that retry delays carry
// jitter (a fleet that lost its broker must not reconnect in lock-step) and so that the
// subscriptions are re-applied on every connect. One reconnect thread sleeps on a condition
// variable; Paho's callback thread reports losses and delivers messages.
#include <mqtt/async_client.h>

#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/log.h"

namespace skiff::common::bus {

namespace {

class DeliveryListener final : public ::mqtt::iaction_listener {
 public:
  explicit DeliveryListener(MessageBus::DeliveryCallback cb) : cb_(std::move(cb)) {}
  void on_success(const ::mqtt::token&) override { finish(Status::ok()); }
  void on_failure(const ::mqtt::token& tok) override {
    finish(
        unavailable("delivery failed (reason code " + std::to_string(tok.get_reason_code()) + ")"));
  }

 private:
  void finish(const Status& s) {
    if (cb_) cb_(s);
    delete this;  // one listener per publish; Paho calls exactly one of the two
  }
  MessageBus::DeliveryCallback cb_;
};

std::string pahoUri(const std::string& url) {
  if (url.starts_with("mqtts://")) return "ssl://" + url.substr(8);
  if (url.starts_with("mqtt://")) return "tcp://" + url.substr(7);
  return "";
}

Status validateTopic(const std::string& topic, bool filter) {
  if (topic.empty() || topic.size() > 65535) return invalidArgument("topic must be 1-65535 bytes");
  if (!filter && topic.find_first_of("+#") != std::string::npos) {
    return invalidArgument("topic \"" + topic + "\" must not contain wildcards");
  }
  if (topic.find('\0') != std::string::npos) return invalidArgument("topic contains NUL");
  return Status::ok();
}

// Fills `c` in place. Paho C++ 1.2's connect_options keep raw pointers to their own members
// (properties, will, TLS options) and its copies do not re-point them, so options must be built
// on the object that is handed to connect() and stay alive during the call: built through the
// builder and copied, the session-expiry property dangled (the broker saw expiry 0 and dropped
// the persistent session) and a reconnect crashed in MQTTProperties_copy.
Status fillConnectOptions(::mqtt::connect_options& c, const BusOptions& opts) {
  try {
    c.set_mqtt_version(MQTTVERSION_5);
    c.set_clean_start(opts.cleanStart);
    c.set_keep_alive_interval(opts.keepAlive);
    c.set_connect_timeout(opts.connectTimeout);
    c.set_automatic_reconnect(false);
    c.set_max_inflight(opts.maxInflight);
    ::mqtt::properties props;
    props.add(::mqtt::property(::mqtt::property::SESSION_EXPIRY_INTERVAL,
                               static_cast<int>(opts.sessionExpiry.count())));
    c.set_properties(props);
    if (!opts.username.empty()) c.set_user_name(opts.username);
    if (!opts.password.empty()) c.set_password(opts.password);
    if (opts.url.starts_with("mqtts://") && opts.tls) {
      ::mqtt::ssl_options ssl;
      ssl.set_trust_store(opts.tls->caFile);
      ssl.set_enable_server_cert_auth(true);
      ssl.set_verify(true);
      if (!opts.tls->certFile.empty()) ssl.set_key_store(opts.tls->certFile);
      if (!opts.tls->keyFile.empty()) ssl.set_private_key(opts.tls->keyFile);
      c.set_ssl(std::move(ssl));
    }
    if (opts.will) {
      c.set_will(::mqtt::will_options(opts.will->topic, opts.will->payload, opts.will->qos,
                                      opts.will->retained));
    }
    return Status::ok();
  } catch (const ::mqtt::exception& e) {
    return invalidArgument(std::string("MQTT client options: ") + e.what());
  }
}

class PahoBus final : public MessageBus {
 public:
  explicit PahoBus(BusOptions opts)
      : opts_(std::move(opts)),
        cli_(pahoUri(opts_.url), opts_.clientId, ::mqtt::create_options(MQTTVERSION_5), nullptr),
        rng_(std::random_device{}()) {
    cli_.set_message_callback([this](::mqtt::const_message_ptr m) { onMessage(m); });
    cli_.set_connected_handler([this](const std::string&) { onConnected(); });
    cli_.set_connection_lost_handler([this](const std::string& cause) { onLost(cause); });
    cli_.set_disconnected_handler([this](const ::mqtt::properties&, ::mqtt::ReasonCode rc) {
      onLost("disconnected by the broker (reason code " + std::to_string(int(rc)) + ")");
    });
  }

  ~PahoBus() override { stop(); }

  void setHandlers(MessageHandler onMessage, ConnectionHandler onConnection) override {
    std::lock_guard lock(mu_);
    onMessage_ = std::move(onMessage);
    onConnection_ = std::move(onConnection);
  }

  Status subscribe(const std::string& filter, int qos) override {
    SKIFF_RETURN_IF_ERROR(validateTopic(filter, true));
    if (qos != 0 && qos != 1) return invalidArgument("subscription QoS must be 0 or 1");
    {
      std::lock_guard lock(mu_);
      subscriptions_[filter] = qos;
      if (!connected_) return Status::ok();
    }
    try {
      cli_.subscribe(filter, qos);
    } catch (const ::mqtt::exception& e) {
      // Re-applied on the next connect.
      log::debug("mqtt: subscribe deferred", {{"filter", filter}, {"error", e.what()}});
    }
    return Status::ok();
  }

  void start() override {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
    reconnector_ = std::thread([this] { reconnectLoop(); });
  }

  Status waitConnected(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, timeout, [this] { return connected_ || stopping_; });
    if (stopping_) return unavailable("message bus stopped");
    if (!ok)
      return deadlineExceeded("not connected to " + opts_.url + " within " +
                              std::to_string(timeout.count()) + " ms");
    return Status::ok();
  }

  Status publish(const Message& m, DeliveryCallback onDelivered) override {
    SKIFF_RETURN_IF_ERROR(validateTopic(m.topic, false));
    if (m.qos != 0 && m.qos != 1) return invalidArgument("publish QoS must be 0 or 1");
    {
      std::lock_guard lock(mu_);
      if (stopping_) return unavailable("message bus stopped");
      if (!connected_) return unavailable("not connected to " + opts_.url);
    }
    auto b = ::mqtt::message_ptr_builder().topic(m.topic).payload(m.payload).qos(m.qos).retained(
        m.retained);
    if (!m.responseTopic.empty() || !m.correlationData.empty()) {
      ::mqtt::properties props;
      if (!m.responseTopic.empty()) {
        props.add(::mqtt::property(::mqtt::property::RESPONSE_TOPIC, m.responseTopic));
      }
      if (!m.correlationData.empty()) {
        props.add(::mqtt::property(::mqtt::property::CORRELATION_DATA, m.correlationData));
      }
      b.properties(std::move(props));
    }
    auto* listener = new DeliveryListener(std::move(onDelivered));
    try {
      cli_.publish(b.finalize(), nullptr, *listener);
    } catch (const ::mqtt::exception& e) {
      delete listener;
      return unavailable(std::string("publish failed: ") + e.what());
    }
    return Status::ok();
  }

  bool isConnected() const override {
    std::lock_guard lock(mu_);
    return connected_;
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (reconnector_.joinable()) reconnector_.join();
    try {
      if (cli_.is_connected()) {
        // Reason code 0 (normal disconnection): the broker discards the Last Will.
        cli_.disconnect(::mqtt::disconnect_options(0))->wait_for(std::chrono::seconds(3));
      }
    } catch (const ::mqtt::exception& e) {
      log::debug("mqtt: disconnect failed", {{"error", e.what()}});
    }
    std::lock_guard lock(mu_);
    connected_ = false;
  }

 private:
  void reconnectLoop() {
    int attempt = 0;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (connected_) {
        attempt = 0;
        cv_.wait(lock, [this] { return stopping_ || !connected_; });
        continue;
      }
      lock.unlock();
      std::string error;
      try {
        // Fresh options for every attempt, alive until the connect completed (see
        // fillConnectOptions).
        ::mqtt::connect_options conn;
        if (Status s = fillConnectOptions(conn, opts_); !s.isOk()) {
          error = s.toString();
        } else {
          auto tok = cli_.connect(conn);
          if (!tok->wait_for(opts_.connectTimeout + std::chrono::seconds(2))) {
            error = "connect timed out";
          }
        }
      } catch (const ::mqtt::exception& e) {
        error = e.what();
      }
      lock.lock();
      if (error.empty()) {
        // onConnected (Paho's callback thread) flips connected_; wait for it briefly so the
        // loop does not start a second connect.
        cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_ || connected_; });
        continue;
      }
      auto delay = backoff(attempt++);
      log::warn("mqtt: connect failed", {{"url", opts_.url},
                                         {"error", error},
                                         {"retryInMs", static_cast<std::int64_t>(delay.count())}});
      cv_.wait_for(lock, delay, [this] { return stopping_; });
    }
  }

  // min·2^attempt capped at max, then ±25 % jitter.
  std::chrono::milliseconds backoff(int attempt) {
    double base =
        static_cast<double>(opts_.minReconnectDelay.count()) * std::pow(2.0, std::min(attempt, 20));
    base = std::min(base, static_cast<double>(opts_.maxReconnectDelay.count()));
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    return std::chrono::milliseconds(static_cast<std::int64_t>(base * jitter(rng_)));
  }

  void onConnected() {
    std::map<std::string, int> subs;
    ConnectionHandler handler;
    {
      std::lock_guard lock(mu_);
      connected_ = true;
      subs = subscriptions_;
      handler = onConnection_;
    }
    cv_.notify_all();
    for (const auto& [filter, qos] : subs) {
      try {
        cli_.subscribe(filter, qos);
      } catch (const ::mqtt::exception& e) {
        log::warn("mqtt: subscribe failed", {{"filter", filter}, {"error", e.what()}});
      }
    }
    log::info("mqtt: connected", {{"url", opts_.url}, {"clientId", opts_.clientId}});
    if (handler) handler(true, "connected");
  }

  void onLost(const std::string& cause) {
    ConnectionHandler handler;
    {
      std::lock_guard lock(mu_);
      if (!connected_) return;
      connected_ = false;
      handler = onConnection_;
    }
    cv_.notify_all();
    std::string reason = cause.empty() ? "connection lost" : cause;
    log::warn("mqtt: connection lost", {{"url", opts_.url}, {"reason", reason}});
    if (handler) handler(false, reason);
  }

  void onMessage(const ::mqtt::const_message_ptr& m) {
    if (!m) return;
    Message msg;
    msg.topic = m->get_topic();
    msg.payload = m->to_string();
    msg.qos = m->get_qos();
    msg.retained = m->is_retained();
    const auto& props = m->get_properties();
    try {
      if (props.contains(::mqtt::property::RESPONSE_TOPIC)) {
        msg.responseTopic = ::mqtt::get<std::string>(props, ::mqtt::property::RESPONSE_TOPIC);
      }
      if (props.contains(::mqtt::property::CORRELATION_DATA)) {
        msg.correlationData = ::mqtt::get<std::string>(props, ::mqtt::property::CORRELATION_DATA);
      }
    } catch (const std::exception& e) {
      log::warn("mqtt: unreadable message properties", {{"topic", msg.topic}, {"error", e.what()}});
    }
    MessageHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = onMessage_;
    }
    if (handler) handler(msg);
  }

  BusOptions opts_;
  ::mqtt::async_client cli_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool connected_ = false;
  std::map<std::string, int> subscriptions_;
  MessageHandler onMessage_;
  ConnectionHandler onConnection_;
  std::thread reconnector_;
  std::mt19937 rng_;
};

}  // namespace

Status publishAndWait(MessageBus& bus, const Message& m, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  SKIFF_RETURN_IF_ERROR(bus.publish(m, [done](const Status& s) { done->set_value(s); }));
  if (fut.wait_for(timeout) != std::future_status::ready) {
    return deadlineExceeded("no delivery acknowledgement for " + m.topic + " within " +
                            std::to_string(timeout.count()) + " ms");
  }
  return fut.get();
}

Result<std::unique_ptr<MessageBus>> makePahoBus(BusOptions opts) {
  // Paho C writes to TLS sockets with write(): a peer that closed its end would kill the
  // process with SIGPIPE (Paho's documentation asks applications to ignore it).
  static std::once_flag ignorePipe;
  std::call_once(ignorePipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  if (pahoUri(opts.url).empty()) {
    return invalidArgument("MQTT URL \"" + opts.url + "\" must start with mqtt:// or mqtts://");
  }
  if (opts.clientId.empty() || opts.clientId.size() > 128) {
    return invalidArgument("MQTT client id must be 1-128 characters");
  }
  if (opts.url.starts_with("mqtts://")) {
    if (!opts.tls || opts.tls->caFile.empty()) {
      return invalidArgument("mqtts:// needs a CA file to verify the broker");
    }
    for (const auto* f : {&opts.tls->caFile, &opts.tls->certFile, &opts.tls->keyFile}) {
      if (!f->empty()) {
        if (auto r = readFile(*f); !r.isOk()) return r.status().withContext("MQTT TLS file");
      }
    }
  } else if (opts.tls) {
    return invalidArgument("TLS files given for a plain mqtt:// URL");
  }
  if (opts.will) SKIFF_RETURN_IF_ERROR(validateTopic(opts.will->topic, false));
  ::mqtt::connect_options check;
  SKIFF_RETURN_IF_ERROR(fillConnectOptions(check, opts));
  try {
    return std::unique_ptr<MessageBus>(new PahoBus(std::move(opts)));
  } catch (const ::mqtt::exception& e) {
    return invalidArgument(std::string("MQTT client: ") + e.what());
  }
}

}  // namespace skiff::common::bus
