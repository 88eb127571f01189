// MessageBus over the Paho MQTT C asynchronous client (MQTTAsync, MQTT v5). The only file that
// includes Paho; its return codes and failure callbacks become Status values. Paho C rather than
// the Paho C++ wrapper: the wrapper is a shared C++ library, and loading it (with the shared
// libstdc++ it needs) cost the edge agent ~2 MB of resident memory (docs/benchmarks.md, issue #7).
//
// Connection management is ours, not Paho's automatic reconnect, so that retry delays carry
// jitter (a fleet that lost its broker must not reconnect in lock-step) and so that the
// subscriptions are re-applied on every connect. One reconnect thread sleeps on a condition
// variable; Paho's callback thread reports connects, losses and deliveries.
//
// Locking: mu_ guards our state and is never held while calling into Paho, because Paho runs
// our callbacks (which take mu_) from its own threads.
#include <MQTTAsync.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/log.h"

namespace skiff::common::bus {

namespace {

// The broker's port from the bus URL ("mqtts://host:8883"; 1883/8883 when absent).
int brokerPort(const std::string& url) {
  bool secure = url.starts_with("mqtts://");
  std::string rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    try {
      return std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return -1;
    }
  }
  return secure ? 8883 : 1883;
}

// Paho C never sets TCP_NODELAY, so a message larger than one TCP segment (a device's report
// with tens of pods) waits for the broker's delayed ACK (~40 ms) under Nagle's algorithm. On
// every connect, this process's TCP sockets connected to the broker's port get TCP_NODELAY
// (found through /proc/self/fd: Paho does not expose its socket).
void disableNagleTowards(int port) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    int fd = -1;
    try {
      fd = std::stoi(it->path().filename().string());
    } catch (...) {
      continue;
    }
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) != 0) continue;
    int peerPort = -1;
    if (peer.ss_family == AF_INET) {
      peerPort = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      peerPort = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
    }
    if (peerPort != port) continue;
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

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

std::string pahoError(int rc) {
  const char* s = MQTTAsync_strerror(rc);
  return (s != nullptr ? std::string(s) : "error") + " (" + std::to_string(rc) + ")";
}

// A failure callback's explanation: Paho's message, else its error code, plus the MQTT reason.
std::string failureText(const MQTTAsync_failureData5* f) {
  if (f == nullptr) return "unknown failure";
  std::string out = f->message != nullptr ? f->message : pahoError(f->code);
  if (f->reasonCode != MQTTREASONCODE_SUCCESS) {
    out += " (reason code " + std::to_string(static_cast<int>(f->reasonCode)) + ")";
  }
  return out;
}

// MQTT v5 property lists; Paho copies the data on add and frees it in MQTTProperties_free.
class Properties {
 public:
  Properties() = default;
  Properties(const Properties&) = delete;
  Properties& operator=(const Properties&) = delete;
  ~Properties() { MQTTProperties_free(&p_); }
  void addInteger4(MQTTPropertyCodes code, unsigned value) {
    MQTTProperty prop{};
    prop.identifier = code;
    prop.value.integer4 = value;
    MQTTProperties_add(&p_, &prop);
  }
  void addData(MQTTPropertyCodes code, const std::string& data) {
    MQTTProperty prop{};
    prop.identifier = code;
    prop.value.data.len = static_cast<int>(data.size());
    prop.value.data.data = const_cast<char*>(data.data());
    MQTTProperties_add(&p_, &prop);
  }
  MQTTProperties* get() { return &p_; }

 private:
  MQTTProperties p_ = MQTTProperties_initializer;
};

std::string propertyData(MQTTProperties* props, MQTTPropertyCodes code) {
  MQTTProperty* p = MQTTProperties_getProperty(props, code);
  if (p == nullptr || p->value.data.data == nullptr || p->value.data.len <= 0) return "";
  return std::string(p->value.data.data, static_cast<std::size_t>(p->value.data.len));
}

class PahoBus final : public MessageBus {
 public:
  explicit PahoBus(BusOptions opts) : opts_(std::move(opts)), rng_(std::random_device{}()) {}

  // Creates the Paho client and installs the callbacks (Paho requires that before connecting).
  Status init() {
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    int rc = MQTTAsync_createWithOptions(&cli_, pahoUri(opts_.url).c_str(), opts_.clientId.c_str(),
                                         MQTTCLIENT_PERSISTENCE_NONE, nullptr, &co);
    if (rc != MQTTASYNC_SUCCESS) {
      cli_ = nullptr;
      return invalidArgument("MQTT client: " + pahoError(rc));
    }
    rc = MQTTAsync_setCallbacks(cli_, this, &PahoBus::onLostCb, &PahoBus::onMessageCb, nullptr);
    if (rc == MQTTASYNC_SUCCESS) rc = MQTTAsync_setConnected(cli_, this, &PahoBus::onConnectedCb);
    if (rc == MQTTASYNC_SUCCESS) {
      rc = MQTTAsync_setDisconnected(cli_, this, &PahoBus::onDisconnectedCb);
    }
    if (rc != MQTTASYNC_SUCCESS) return internalError("MQTT client callbacks: " + pahoError(rc));
    return Status::ok();
  }

  ~PahoBus() override {
    stop();
    // No callback runs after this returns; deliveries still pending never get one.
    if (cli_ != nullptr) MQTTAsync_destroy(&cli_);
    for (auto* d : pendingDeliveries_) delete d;
  }

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
    if (int rc = sendSubscribe(filter, qos); rc != MQTTASYNC_SUCCESS) {
      // Re-applied on the next connect.
      log::debug("mqtt: subscribe deferred", {{"filter", filter}, {"error", pahoError(rc)}});
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
    if (m.payload.size() > INT_MAX) return invalidArgument("payload too large");
    auto* delivery = new Delivery{this, std::move(onDelivered)};
    {
      std::lock_guard lock(mu_);
      Status refused;
      if (stopping_) {
        refused = unavailable("message bus stopped");
      } else if (!connected_) {
        refused = unavailable("not connected to " + opts_.url);
      }
      if (!refused.isOk()) {
        delete delivery;
        return refused;
      }
      // Registered before the send: the outcome callback may run before sendMessage returns.
      pendingDeliveries_.insert(delivery);
    }
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = const_cast<char*>(m.payload.data());
    msg.payloadlen = static_cast<int>(m.payload.size());
    msg.qos = m.qos;
    msg.retained = m.retained ? 1 : 0;
    Properties props;
    if (!m.responseTopic.empty()) props.addData(MQTTPROPERTY_CODE_RESPONSE_TOPIC, m.responseTopic);
    if (!m.correlationData.empty()) {
      props.addData(MQTTPROPERTY_CODE_CORRELATION_DATA, m.correlationData);
    }
    msg.properties = *props.get();  // Paho copies payload, topic and properties
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = &PahoBus::onDeliveredCb;
    ro.onFailure5 = &PahoBus::onDeliveryFailedCb;
    ro.context = delivery;
    int rc = MQTTAsync_sendMessage(cli_, m.topic.c_str(), &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
      {
        std::lock_guard lock(mu_);
        pendingDeliveries_.erase(delivery);
      }
      delete delivery;
      return unavailable("publish failed: " + pahoError(rc));
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
    if (cli_ != nullptr && MQTTAsync_isConnected(cli_)) {
      // Reason code 0 (normal disconnection): the broker discards the Last Will.
      auto done = std::make_shared<std::promise<void>>();
      auto* ctx = new std::shared_ptr<std::promise<void>>(done);
      MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
      d.timeout = 0;
      d.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION;
      d.context = ctx;
      d.onSuccess5 = [](void* c, MQTTAsync_successData5*) { settle(c); };
      d.onFailure5 = [](void* c, MQTTAsync_failureData5*) { settle(c); };
      int rc = MQTTAsync_disconnect(cli_, &d);
      if (rc != MQTTASYNC_SUCCESS) {
        delete ctx;
        log::debug("mqtt: disconnect failed", {{"error", pahoError(rc)}});
      } else if (done->get_future().wait_for(std::chrono::seconds(3)) !=
                 std::future_status::ready) {
        log::debug("mqtt: disconnect not confirmed within 3 s", {});
      }
    }
    std::lock_guard lock(mu_);
    connected_ = false;
  }

 private:
  // One publish's outcome callback; Paho calls exactly one of onSuccess5 / onFailure5.
  struct Delivery {
    PahoBus* bus;
    DeliveryCallback cb;
  };

  static void settle(void* c) {
    auto* p = static_cast<std::shared_ptr<std::promise<void>>*>(c);
    (*p)->set_value();
    delete p;
  }

  int sendSubscribe(const std::string& filter, int qos) {
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    return MQTTAsync_subscribe(cli_, filter.c_str(), qos, &ro);
  }

  // One connect attempt: Ok once the broker accepted it (its outcome arrives on a Paho thread).
  Status connectOnce() {
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer5;
    c.keepAliveInterval = static_cast<int>(opts_.keepAlive.count());
    c.cleanstart = opts_.cleanStart ? 1 : 0;
    c.connectTimeout = static_cast<int>(opts_.connectTimeout.count());
    c.automaticReconnect = 0;
    c.maxInflight = opts_.maxInflight;
    if (!opts_.username.empty()) c.username = opts_.username.c_str();
    if (!opts_.password.empty()) c.password = opts_.password.c_str();
    Properties connectProps;
    connectProps.addInteger4(MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
                             static_cast<unsigned>(opts_.sessionExpiry.count()));
    c.connectProperties = connectProps.get();
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (opts_.tls) {
      ssl.trustStore = opts_.tls->caFile.c_str();
      if (!opts_.tls->certFile.empty()) ssl.keyStore = opts_.tls->certFile.c_str();
      if (!opts_.tls->keyFile.empty()) ssl.privateKey = opts_.tls->keyFile.c_str();
      ssl.enableServerCertAuth = 1;
      ssl.verify = 1;  // the broker's certificate must match its host name
      c.ssl = &ssl;
    }
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    if (opts_.will) {
      will.topicName = opts_.will->topic.c_str();
      will.payload.data = opts_.will->payload.data();
      will.payload.len = static_cast<int>(opts_.will->payload.size());
      will.qos = opts_.will->qos;
      will.retained = opts_.will->retained ? 1 : 0;
      c.will = &will;
    }
    c.context = this;
    c.onSuccess5 = [](void* ctx, MQTTAsync_successData5*) {
      static_cast<PahoBus*>(ctx)->connectOutcome("");
    };
    c.onFailure5 = [](void* ctx, MQTTAsync_failureData5* f) {
      std::string why = failureText(f);
      static_cast<PahoBus*>(ctx)->connectOutcome(why.empty() ? "connect failed" : why);
    };
    {
      std::lock_guard lock(mu_);
      connectPending_ = true;
      connectError_.clear();
    }
    int rc = MQTTAsync_connect(cli_, &c);  // copies the options it keeps
    if (rc != MQTTASYNC_SUCCESS) {
      std::lock_guard lock(mu_);
      connectPending_ = false;
      return unavailable(pahoError(rc));
    }
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, opts_.connectTimeout + std::chrono::seconds(2),
                      [this] { return !connectPending_ || stopping_; })) {
      return unavailable("connect timed out");
    }
    if (connectPending_) return unavailable("stopping");
    if (!connectError_.empty()) return unavailable(connectError_);
    return Status::ok();
  }

  void connectOutcome(const std::string& error) {
    {
      std::lock_guard lock(mu_);
      connectPending_ = false;
      connectError_ = error;
    }
    cv_.notify_all();
  }

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
      Status s = connectOnce();
      lock.lock();
      if (s.isOk()) {
        // onConnected (Paho's callback thread) flips connected_; wait for it briefly so the
        // loop does not start a second connect.
        cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_ || connected_; });
        continue;
      }
      if (stopping_) break;
      auto delay = backoff(attempt++);
      log::warn("mqtt: connect failed", {{"url", opts_.url},
                                         {"error", s.message()},
                                         {"retryInMs", static_cast<std::int64_t>(delay.count())}});
      cv_.wait_for(lock, delay, [this] { return stopping_; });
    }
  }

  // min·2^attempt capped at max, then ±25 % jitter.
  std::chrono::milliseconds backoff(int attempt) {
    double base =
        static_cast<double>(opts_.minReconnectDelay.count()) * double(1u << std::min(attempt, 20));
    base = std::min(base, static_cast<double>(opts_.maxReconnectDelay.count()));
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    return std::chrono::milliseconds(static_cast<std::int64_t>(base * jitter(rng_)));
  }

  // ---- Paho callbacks (Paho's threads) ----------------------------------------------------------

  static void onConnectedCb(void* ctx, char*) { static_cast<PahoBus*>(ctx)->onConnected(); }
  static void onLostCb(void* ctx, char* cause) {
    static_cast<PahoBus*>(ctx)->onLost(cause != nullptr ? cause : "");
  }
  static void onDisconnectedCb(void* ctx, MQTTProperties*, MQTTReasonCodes rc) {
    static_cast<PahoBus*>(ctx)->onLost("disconnected by the broker (reason code " +
                                       std::to_string(static_cast<int>(rc)) + ")");
  }
  static int onMessageCb(void* ctx, char* topic, int topicLen, MQTTAsync_message* m) {
    static_cast<PahoBus*>(ctx)->onMessage(topic, topicLen, m);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;  // processed: Paho must not deliver it again
  }
  static void onDeliveredCb(void* ctx, MQTTAsync_successData5*) { delivered(ctx, Status::ok()); }
  static void onDeliveryFailedCb(void* ctx, MQTTAsync_failureData5* f) {
    delivered(ctx, unavailable("delivery failed: " + failureText(f)));
  }
  static void delivered(void* ctx, const Status& s) {
    std::unique_ptr<Delivery> d(static_cast<Delivery*>(ctx));
    {
      std::lock_guard lock(d->bus->mu_);
      d->bus->pendingDeliveries_.erase(d.get());
    }
    if (d->cb) d->cb(s);
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
    disableNagleTowards(brokerPort(opts_.url));
    for (const auto& [filter, qos] : subs) {
      if (int rc = sendSubscribe(filter, qos); rc != MQTTASYNC_SUCCESS) {
        log::warn("mqtt: subscribe failed", {{"filter", filter}, {"error", pahoError(rc)}});
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

  void onMessage(const char* topic, int topicLen, MQTTAsync_message* m) {
    if (topic == nullptr || m == nullptr) return;
    Message msg;
    // topicLen is 0 when the topic is NUL-terminated (it contains no NUL itself).
    msg.topic = topicLen > 0 ? std::string(topic, static_cast<std::size_t>(topicLen)) : topic;
    if (m->payload != nullptr && m->payloadlen > 0) {
      msg.payload.assign(static_cast<const char*>(m->payload),
                         static_cast<std::size_t>(m->payloadlen));
    }
    msg.qos = m->qos;
    msg.retained = m->retained != 0;
    msg.responseTopic = propertyData(&m->properties, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    msg.correlationData = propertyData(&m->properties, MQTTPROPERTY_CODE_CORRELATION_DATA);
    MessageHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = onMessage_;
    }
    if (!handler) return;
    try {
      handler(msg);
    } catch (const std::exception& e) {  // never unwind into Paho's C thread
      log::error("mqtt: message handler failed", {{"topic", msg.topic}, {"error", e.what()}});
    }
  }

  BusOptions opts_;
  MQTTAsync cli_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool connected_ = false;
  bool connectPending_ = false;
  std::string connectError_;
  std::map<std::string, int> subscriptions_;
  std::set<Delivery*> pendingDeliveries_;
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
  bool secure = opts.url.starts_with("mqtts://");
  if (secure) {
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
  if (opts.will) {
    SKIFF_RETURN_IF_ERROR(validateTopic(opts.will->topic, false));
    if (opts.will->qos != 0 && opts.will->qos != 1) {
      return invalidArgument("Last Will QoS must be 0 or 1");
    }
  }
  if (opts.keepAlive.count() < 0 || opts.connectTimeout.count() <= 0 || opts.maxInflight <= 0) {
    return invalidArgument("MQTT keepAlive, connectTimeout and maxInflight must be positive");
  }
  auto bus = std::make_unique<PahoBus>(std::move(opts));
  SKIFF_RETURN_IF_ERROR(bus->init());
  return std::unique_ptr<MessageBus>(std::move(bus));
}

}  // namespace skiff::common::bus
