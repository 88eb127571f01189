// libmosquitto swarm over SimAgent.
#include "bench/device_swarm.h"

#include <mosquitto.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "common/fs.h"
#include "common/tls.h"
#include "tests/support/hub.h"

namespace skiff::bench {

struct DeviceSwarm::Dev {
  DeviceSwarm* swarm = nullptr;
  mosquitto* m = nullptr;
  std::unique_ptr<test::SimAgent> agent;
  int fd = -1;
  bool dirty = false;  // in dirty_: may have something to write
};

namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void libInit() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

}  // namespace

common::Result<std::vector<SwarmDevice>> registerSwarmDevices(
    test::HubFixture& hub, int n,
    const std::function<std::map<std::string, std::string>(int)>& labelsOf) {
  std::vector<SwarmDevice> out;
  SKIFF_ASSIGN_OR_RETURN(auto caPem, common::readFile(hub.dataDir() + "/pki/ca.pem"));
  SKIFF_ASSIGN_OR_RETURN(auto caKey, common::readFile(hub.dataDir() + "/pki/ca.key"));
  SKIFF_ASSIGN_OR_RETURN(auto ca, common::tls::CertificateAuthority::fromPem(caPem, caKey));
  SKIFF_ASSIGN_OR_RETURN(auto key, common::tls::PrivateKey::generate());
  std::string keyFile = hub.dataDir() + "/swarm.key";
  SKIFF_ASSIGN_OR_RETURN(auto keyPem, key.toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(keyFile, keyPem, 0600));
  SKIFF_RETURN_IF_ERROR(common::makeDirs(hub.dataDir() + "/swarm"));
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "sim-%05d", i);
    SKIFF_RETURN_IF_ERROR(hub.createDevice(id, labelsOf(i)));
    SKIFF_ASSIGN_OR_RETURN(auto csr, common::tls::CertificateRequest::create(key, id));
    common::tls::IssueOptions io;
    io.commonName = id;
    SKIFF_ASSIGN_OR_RETURN(auto cert, ca.issue(csr, io));
    std::string certFile = hub.dataDir() + "/swarm/" + id + ".pem";
    SKIFF_ASSIGN_OR_RETURN(auto certPem, cert.toPem());
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(certFile, certPem));
    out.push_back({id, certFile, keyFile});
  }
  return out;
}

DeviceSwarm::DeviceSwarm(SwarmOptions opts) : opts_(std::move(opts)) {}

DeviceSwarm::~DeviceSwarm() { stop(); }

void DeviceSwarm::publishAll(Dev& d, const std::vector<test::OutMessage>& msgs) {
  for (const auto& m : msgs) {
    int rc = mosquitto_publish(d.m, nullptr, m.topic.c_str(), static_cast<int>(m.payload.size()),
                               m.payload.data(), m.qos, m.retained);
    if (rc != MOSQ_ERR_SUCCESS) ++errors_;
    if (m.topic.size() > 9 && m.topic.compare(m.topic.size() - 9, 9, "/reported") == 0) {
      ++reports_;
    }
  }
  markDirty(d);
}

void DeviceSwarm::onMessage(mosquitto*, void* user, const void* raw) {
  auto* d = static_cast<Dev*>(user);
  const auto* msg = static_cast<const mosquitto_message*>(raw);
  std::string_view payload(static_cast<const char*>(msg->payload),
                           static_cast<std::size_t>(msg->payloadlen));
  DeviceSwarm& s = *d->swarm;
  std::string topic = msg->topic;
  if (topic.size() > 8 && topic.compare(topic.size() - 8, 8, "/desired") == 0) {
    ++s.desired_;
    s.lastDesiredBytes_ = payload.size();
    if (s.raw_) {
      s.publishAll(*d, {d->agent->report()});
      return;
    }
  }
  s.publishAll(*d, d->agent->onMessage(topic, payload, ""));
}

common::Result<std::unique_ptr<DeviceSwarm>> DeviceSwarm::start(SwarmOptions opts) {
  libInit();
  std::unique_ptr<DeviceSwarm> s(new DeviceSwarm(std::move(opts)));
  s->epoll_ = epoll_create1(EPOLL_CLOEXEC);
  s->reportEveryMs_ = s->opts_.reportEvery.count();
  s->metricsEveryMs_ = s->opts_.metricsEvery.count();
  for (const auto& sd : s->opts_.devices) {
    auto d = std::make_unique<Dev>();
    d->swarm = s.get();
    d->agent = std::make_unique<test::SimAgent>(sd.id, s->opts_.signingPublicKeyPem);
    d->m = mosquitto_new(sd.id.c_str(), false, d.get());
    if (d->m == nullptr) return common::internalError("mosquitto_new failed");
    mosquitto_int_option(d->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (mosquitto_tls_set(d->m, s->opts_.caFile.c_str(), nullptr, sd.certFile.c_str(),
                          sd.keyFile.c_str(), nullptr) != MOSQ_ERR_SUCCESS) {
      return common::invalidArgument("TLS files of " + sd.id);
    }
    test::OutMessage will = d->agent->will();
    mosquitto_will_set(d->m, will.topic.c_str(), static_cast<int>(will.payload.size()),
                       will.payload.data(), 1, true);
    mosquitto_message_callback_set(
        d->m, [](mosquitto* m, void* u, const mosquitto_message* msg) { onMessage(m, u, msg); });
    int rc = mosquitto_connect(d->m, s->opts_.host.c_str(), s->opts_.port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
      return common::unavailable("connecting " + sd.id + ": " + mosquitto_strerror(rc));
    }
    for (const auto& t : d->agent->subscriptions()) {
      mosquitto_subscribe(d->m, nullptr, t.c_str(), 1);
    }
    d->fd = mosquitto_socket(d->m);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = d.get();
    epoll_ctl(s->epoll_, EPOLL_CTL_ADD, d->fd, &ev);
    mosquitto_loop_write(d->m, 1);
    s->devs_.push_back(std::move(d));
  }
  // CONNACK + SUBACK, then hello (presence + report) from the loop.
  for (auto& d : s->devs_) s->publishAll(*d, d->agent->hello());
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

void DeviceSwarm::setVerifySignatures(bool on) {
  for (auto& d : devs_) d->agent->setVerifySignatures(on);
}

void DeviceSwarm::setHeartbeat(std::chrono::milliseconds reportEvery,
                               std::chrono::milliseconds metricsEvery) {
  reportEveryMs_ = reportEvery.count();
  metricsEveryMs_ = metricsEvery.count();
}

namespace {

// One periodic message for every device, spread evenly over the period: firing f (device
// f mod n) is due at start + period * f / n. Re-spread when the period changes.
struct Cycle {
  std::int64_t periodMs = -1;
  std::int64_t startMs = 0;
  std::uint64_t fired = 0;

  void retune(std::int64_t period, std::int64_t now) {
    if (period == periodMs) return;
    periodMs = period;
    startMs = now;
    fired = 0;
  }
  // Calls fire(deviceIndex) for every firing due by `now`.
  template <typename F>
  void run(std::int64_t now, std::size_t n, F&& fire) {
    if (periodMs <= 0 || n == 0) return;
    while (now >=
           startMs + periodMs * static_cast<std::int64_t>(fired / n) +
               periodMs * static_cast<std::int64_t>(fired % n) / static_cast<std::int64_t>(n)) {
      fire(fired % n);
      ++fired;
    }
  }
};

}  // namespace

void DeviceSwarm::markDirty(Dev& d) {
  if (d.dirty) return;
  d.dirty = true;
  dirty_.push_back(&d);
}

// Only the devices touched since the last round are written (a scan of every device per round
// cost the simulator a fifth of a core, next to the hub it measures).
void DeviceSwarm::loop() {
  std::vector<epoll_event> events(512);
  std::vector<Dev*> writing;
  std::int64_t lastMisc = nowMs();
  Cycle reports, metrics;
  while (!stop_) {
    int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 20);
    for (int i = 0; i < n; ++i) {
      auto* d = static_cast<Dev*>(events[i].data.ptr);
      if (mosquitto_loop_read(d->m, 10) != MOSQ_ERR_SUCCESS) ++errors_;
      markDirty(*d);
    }
    std::int64_t t = nowMs();
    reports.retune(reportEveryMs_.load(), t);
    metrics.retune(metricsEveryMs_.load(), t);
    reports.run(t, devs_.size(),
                [&](std::size_t i) { publishAll(*devs_[i], {devs_[i]->agent->report()}); });
    metrics.run(t, devs_.size(),
                [&](std::size_t i) { publishAll(*devs_[i], {devs_[i]->agent->metrics()}); });
    bool misc = t - lastMisc >= 1000;
    if (misc) {
      lastMisc = t;
      for (auto& d : devs_) {
        mosquitto_loop_misc(d->m);
        if (mosquitto_want_write(d->m)) markDirty(*d);
      }
    }
    writing.swap(dirty_);
    for (Dev* d : writing) {
      d->dirty = false;
      if (mosquitto_want_write(d->m)) mosquitto_loop_write(d->m, 10);
      if (mosquitto_want_write(d->m)) markDirty(*d);  // the socket was full: next round
    }
    writing.clear();
  }
}

void DeviceSwarm::stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  for (auto& d : devs_) {
    mosquitto_disconnect(d->m);
    mosquitto_destroy(d->m);
  }
  devs_.clear();
  if (epoll_ >= 0) ::close(epoll_);
}

}  // namespace skiff::bench
