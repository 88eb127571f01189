// PahoBus against a real Mosquitto: pub/sub with MQTT v5 request/response properties, delivery
// callbacks, retained messages, reconnect + resubscribe after a broker restart, the Last Will on
// an unclean exit (and none on stop()), the persistent session, mutual TLS with the device ACL,
// and bad options.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>

#include "common/bus/message_bus.h"
#include "tests/support/mosquitto.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::common::bus {
namespace {

using namespace std::chrono_literals;

// Collects what a bus receives and its connection transitions.
class Inbox {
 public:
  void attach(MessageBus& bus) {
    bus.setHandlers(
        [this](const Message& m) {
          std::lock_guard lock(mu_);
          msgs_.push_back(m);
          cv_.notify_all();
        },
        [this](bool up, const std::string&) {
          std::lock_guard lock(mu_);
          (up ? ups_ : downs_)++;
          cv_.notify_all();
        });
  }
  std::optional<Message> next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return !msgs_.empty(); })) return std::nullopt;
    Message m = msgs_.front();
    msgs_.pop_front();
    return m;
  }
  bool waitUps(int n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ups_ >= n; });
  }
  bool waitDowns(int n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return downs_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> msgs_;
  int ups_ = 0;
  int downs_ = 0;
};

std::unique_ptr<MessageBus> plainBus(const test::MosquittoFixture& broker, const std::string& id,
                                     std::optional<Message> will = std::nullopt,
                                     bool cleanStart = false) {
  BusOptions o;
  o.url = broker.url();
  o.clientId = id;
  o.will = std::move(will);
  o.cleanStart = cleanStart;
  o.minReconnectDelay = 100ms;
  o.maxReconnectDelay = 1s;
  auto b = makePahoBus(o);
  EXPECT_TRUE(b.isOk()) << b.status();
  return std::move(b).value();
}

TEST(PahoBusTest, PublishSubscribeWithResponseProperties) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create());
  auto a = plainBus(*broker, "a");
  auto b = plainBus(*broker, "b");
  Inbox inA, inB;
  inA.attach(*a);
  inB.attach(*b);
  SKIFF_ASSERT_OK(b->subscribe("req/#", 1));
  a->start();
  b->start();
  SKIFF_ASSERT_OK(a->waitConnected(10s));
  SKIFF_ASSERT_OK(b->waitConnected(10s));
  ASSERT_TRUE(inB.waitUps(1));
  EXPECT_TRUE(a->isConnected());

  Message m{"req/1", std::string("pay\0load", 8), 1, false, "resp/1", "corr-7"};
  SKIFF_ASSERT_OK(publishAndWait(*a, m, 5s));
  auto got = inB.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "req/1");
  EXPECT_EQ(got->payload, m.payload);
  EXPECT_EQ(got->responseTopic, "resp/1");
  EXPECT_EQ(got->correlationData, "corr-7");
  EXPECT_EQ(got->qos, 1);

  // Bad publishes are refused before reaching the wire.
  EXPECT_EQ(a->publish(Message{"a/+", "x"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->publish(Message{"", "x"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->publish(Message{"a", "x", 2}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->subscribe("", 1).code(), StatusCode::kInvalidArgument);
  a->stop();
  EXPECT_EQ(a->publish(Message{"a", "x"}).code(), StatusCode::kUnavailable);
}

// TCP_NODELAY of this process's TCP sockets connected to `port` (Paho does not expose its
// socket; docs/agent.md "Reporting" says why it matters).
std::vector<int> noDelayTowards(int port) {
  std::vector<int> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    int fd = std::atoi(it->path().filename().c_str());
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
        peer.sin_family != AF_INET || ntohs(peer.sin_port) != port) {
      continue;
    }
    int v = 0;
    socklen_t vl = sizeof v;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0) out.push_back(v);
  }
  return out;
}

TEST(PahoBusTest, SocketsToTheBrokerDoNotWaitForNagle) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create());
  const std::string url = broker->url();
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  auto a = plainBus(*broker, "nodelay");
  a->start();
  SKIFF_ASSERT_OK(a->waitConnected(10s));
  SKIFF_ASSERT_OK(test::waitUntil(
      [&] {
        auto v = noDelayTowards(port);
        return !v.empty() && std::all_of(v.begin(), v.end(), [](int x) { return x != 0; });
      },
      5s, "TCP_NODELAY on the socket to the broker"));
  a->stop();
}

TEST(PahoBusTest, ReconnectsAndResubscribesAfterBrokerRestart) {
  test::MosquittoOptions opts;
  opts.persistence = true;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create(opts));
  auto sub = plainBus(*broker, "sub");
  Inbox in;
  in.attach(*sub);
  SKIFF_ASSERT_OK(sub->subscribe("t/#", 1));
  sub->start();
  ASSERT_TRUE(in.waitUps(1));
  broker->stop();
  ASSERT_TRUE(in.waitDowns(1));
  EXPECT_FALSE(sub->isConnected());
  EXPECT_EQ(sub->publish(Message{"t/x", "while down"}).code(), StatusCode::kUnavailable);
  SKIFF_ASSERT_OK(broker->start());
  ASSERT_TRUE(in.waitUps(2)) << "did not reconnect";
  auto pub = plainBus(*broker, "pub");
  pub->start();
  SKIFF_ASSERT_OK(pub->waitConnected(10s));
  SKIFF_ASSERT_OK(publishAndWait(*pub, Message{"t/after", "hello", 1, true}, 5s));
  auto got = in.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "t/after");
}

TEST(PahoBusTest, PersistentSessionKeepsMessagesWhileAway) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create());
  {
    auto sub = plainBus(*broker, "sleeper");
    Inbox in;
    in.attach(*sub);
    SKIFF_ASSERT_OK(sub->subscribe("q/#", 1));
    sub->start();
    ASSERT_TRUE(in.waitUps(1));
    sub->stop();
  }
  auto pub = plainBus(*broker, "pub");
  pub->start();
  SKIFF_ASSERT_OK(pub->waitConnected(10s));
  SKIFF_ASSERT_OK(publishAndWait(*pub, Message{"q/1", "while you were away"}, 5s));
  // Same client id, clean_start=false: the broker kept the session (expiry 7 days) and its
  // queued QoS 1 message.
  auto back = plainBus(*broker, "sleeper");
  Inbox in;
  in.attach(*back);
  back->start();
  auto got = in.next(10s);
  ASSERT_TRUE(got) << "the session's queued message was lost (session expiry not sent?)";
  EXPECT_EQ(got->payload, "while you were away");
}

TEST(PahoBusTest, LastWillOnlyWhenTheClientVanishes) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create());
  auto watcher = plainBus(*broker, "watcher");
  Inbox in;
  in.attach(*watcher);
  SKIFF_ASSERT_OK(watcher->subscribe("presence/#", 1));
  watcher->start();
  ASSERT_TRUE(in.waitUps(1));

  // Clean stop: no will.
  auto polite = plainBus(*broker, "polite", Message{"presence/polite", "offline", 1, false});
  polite->start();
  SKIFF_ASSERT_OK(polite->waitConnected(10s));
  polite->stop();
  EXPECT_FALSE(in.next(1500ms)) << "a clean stop must not publish the Last Will";

  // Vanishing (the broker drops the connection under it): the will arrives.
  auto rude = plainBus(*broker, "rude", Message{"presence/rude", "offline", 1, false});
  rude->start();
  SKIFF_ASSERT_OK(rude->waitConnected(10s));
  // A second client with the same id and a clean start ends the first connection and its
  // session; the broker publishes that connection's will. (Mosquitto keeps the will back when
  // the newcomer resumes a persistent session instead, which is what a reconnecting agent does.)
  auto usurper = plainBus(*broker, "rude", std::nullopt, /*cleanStart=*/true);
  usurper->start();
  auto will = in.next(10s);
  ASSERT_TRUE(will);
  EXPECT_EQ(will->topic, "presence/rude");
  EXPECT_EQ(will->payload, "offline");
  rude->stop();
  usurper->stop();
}

TEST(PahoBusTest, PersistentSessionKeepsQos1MessagesWhileAway) {
  // BusOptions.sessionExpiry (7 days by default) must reach the broker: QoS 1 messages published
  // while the client is away wait in its session and arrive after it reconnects.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create());
  auto sender = plainBus(*broker, "sender");
  sender->start();
  SKIFF_ASSERT_OK(sender->waitConnected(10s));
  {
    auto device = plainBus(*broker, "device-7");
    Inbox in;
    in.attach(*device);
    SKIFF_ASSERT_OK(device->subscribe("queue/device-7", 1));
    device->start();
    ASSERT_TRUE(in.waitUps(1));
    device->stop();
  }
  SKIFF_ASSERT_OK(publishAndWait(*sender, Message{"queue/device-7", "while away", 1, false}, 5s));
  auto again = plainBus(*broker, "device-7");
  Inbox in;
  in.attach(*again);
  again->start();  // no subscribe call: the session still has the subscription
  auto m = in.next(10s);
  ASSERT_TRUE(m) << "the broker kept no session for the client";
  EXPECT_EQ(m->topic, "queue/device-7");
  EXPECT_EQ(m->payload, "while away");
  again->stop();
  sender->stop();
}

TEST(PahoBusTest, MutualTlsWithDeviceAcl) {
  test::MosquittoOptions opts;
  opts.tls = true;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto broker, test::MosquittoFixture::create(opts));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto hubFiles, broker->issueClientCert("hub"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto devFiles, broker->issueClientCert("dev-a"));
  auto make = [&](const test::TlsClientFiles& f, const std::string& id) {
    BusOptions o;
    o.url = broker->url();
    o.clientId = id;
    o.tls = tls::TlsFiles{f.certFile, f.keyFile, f.caFile};
    auto b = makePahoBus(o);
    EXPECT_TRUE(b.isOk()) << b.status();
    return std::move(b).value();
  };
  auto hub = make(hubFiles, "hub");
  auto dev = make(devFiles, "dev-a");
  Inbox hubIn, devIn;
  hubIn.attach(*hub);
  devIn.attach(*dev);
  SKIFF_ASSERT_OK(hub->subscribe("skiff/v1/devices/+/reported", 1));
  SKIFF_ASSERT_OK(dev->subscribe("skiff/v1/devices/dev-a/desired", 1));
  SKIFF_ASSERT_OK(dev->subscribe("skiff/v1/devices/dev-b/desired", 1));  // denied by the ACL
  hub->start();
  dev->start();
  SKIFF_ASSERT_OK(hub->waitConnected(10s));
  SKIFF_ASSERT_OK(dev->waitConnected(10s));
  std::this_thread::sleep_for(300ms);  // SUBACKs
  SKIFF_ASSERT_OK(
      publishAndWait(*hub, Message{"skiff/v1/devices/dev-b/desired", "b", 1, true}, 5s));
  SKIFF_ASSERT_OK(
      publishAndWait(*hub, Message{"skiff/v1/devices/dev-a/desired", "a", 1, true}, 5s));
  auto got = devIn.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, "skiff/v1/devices/dev-a/desired");
  EXPECT_FALSE(devIn.next(500ms)) << "ACL leaked another device's desired state";

  SKIFF_ASSERT_OK(publishAndWait(*dev, Message{"skiff/v1/devices/dev-a/reported", "r"}, 5s));
  // Publishing as another device: Mosquitto acks (v5 may return 0x87) but never forwards it.
  (void)publishAndWait(*dev, Message{"skiff/v1/devices/dev-b/reported", "forged"}, 5s);
  auto rep = hubIn.next();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->topic, "skiff/v1/devices/dev-a/reported");
  EXPECT_FALSE(hubIn.next(500ms));
}

TEST(PahoBusTest, BadOptionsAreRejected) {
  BusOptions o;
  o.clientId = "x";
  o.url = "http://127.0.0.1:1";
  EXPECT_EQ(makePahoBus(o).status().code(), StatusCode::kInvalidArgument);
  o.url = "mqtts://127.0.0.1:1";
  EXPECT_EQ(makePahoBus(o).status().code(), StatusCode::kInvalidArgument);  // no CA
  o.tls = tls::TlsFiles{"", "", "/nonexistent/ca.pem"};
  EXPECT_FALSE(makePahoBus(o).isOk());
  o.url = "mqtt://127.0.0.1:1";
  o.tls.reset();
  o.clientId = "";
  EXPECT_EQ(makePahoBus(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(PahoBusTest, UnreachableBrokerTimesOutWithoutBlockingStop) {
  auto port = test::freeLoopbackPort();
  ASSERT_TRUE(port.isOk());
  BusOptions o;
  o.url = "mqtt://127.0.0.1:" + std::to_string(*port);
  o.clientId = "lonely";
  o.minReconnectDelay = 50ms;
  auto b = makePahoBus(o);
  SKIFF_ASSERT_OK(b);
  (*b)->start();
  EXPECT_EQ((*b)->waitConnected(500ms).code(), StatusCode::kDeadlineExceeded);
  auto t0 = std::chrono::steady_clock::now();
  (*b)->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

}  // namespace
}  // namespace skiff::common::bus
