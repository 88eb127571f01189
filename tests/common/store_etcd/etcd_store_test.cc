// EtcdStore against a real etcd 3.4 (tests/support/etcd.h): the shared Store conformance suite
// (tests/common/store/store_conformance.h) plus the etcd-specific parts — bounded watch queues,
// compaction seen by other clients, URL parsing, unreachable endpoints, etcd restarts, key
// prefixes — and, for information, write throughput.
//
// One etcd serves every test of the process (started lazily, stopped by a gtest Environment);
// each test gets its own key prefix "/t<N>/", so tests never see each other's keys. Tests that
// stop or restart etcd start their own.
#include "common/store/etcd/etcd_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/tls.h"
#include "tests/common/store/store_conformance.h"
#include "tests/support/etcd.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::common::store::etcd {
namespace {

using namespace std::chrono_literals;
using test::EtcdFixture;

std::unique_ptr<EtcdFixture>& sharedEtcdSlot() {
  static std::unique_ptr<EtcdFixture> etcd;
  return etcd;
}

// Stops the shared etcd after the last test (before static destruction, on the main thread).
class SharedEtcdEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { sharedEtcdSlot().reset(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new SharedEtcdEnvironment);

EtcdFixture* sharedEtcd() {
  auto& slot = sharedEtcdSlot();
  if (!slot) {
    auto etcd = EtcdFixture::create();
    if (!etcd) {
      ADD_FAILURE() << etcd.status();
      return nullptr;
    }
    slot = std::move(etcd).value();
  }
  return slot.get();
}

EtcdStoreOptions optionsFor(const EtcdFixture& etcd, std::string keyPrefix) {
  EtcdStoreOptions o;
  o.endpoints = {etcd.endpoint()};
  o.keyPrefix = std::move(keyPrefix);
  o.dialTimeout = 5s;
  o.requestTimeout = 5s;
  return o;
}

std::string uniquePrefix() {
  static std::atomic<int> n{0};
  return "/t" + std::to_string(++n) + "/";
}

// Conformance suite: every test gets a fresh, empty keyspace under its own prefix of the shared
// etcd. Tests of one process run one after another, so nothing else writes meanwhile and the
// revisions a test sees are dense, even though the etcd is shared.
struct EtcdStoreFactory {
  static constexpr bool kDenseRevisions = true;

  std::string skipReason() {
    auto etcd = test::findProgram("etcd");
    return etcd.isOk() ? "" : "etcd not installed: " + etcd.status().toString();
  }

  std::unique_ptr<Store> make() {
    EtcdFixture* etcd = sharedEtcd();
    if (etcd == nullptr) return nullptr;
    auto store = EtcdStore::connect(optionsFor(*etcd, uniquePrefix()));
    if (!store) {
      ADD_FAILURE() << store.status();
      return nullptr;
    }
    return std::move(store).value();
  }
};

}  // namespace
}  // namespace skiff::common::store::etcd

namespace skiff::common::store::conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Etcd, StoreConformanceTest,
                               ::testing::Types<etcd::EtcdStoreFactory>);
}  // namespace skiff::common::store::conformance

namespace skiff::common::store::etcd {
namespace {

// A store on the shared etcd with a fresh key prefix.
class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = sharedEtcd();
    ASSERT_NE(etcd_, nullptr);
    auto s = EtcdStore::connect(optionsFor(*etcd_, uniquePrefix()));
    ASSERT_TRUE(s.isOk()) << s.status();
    store_ = std::move(s).value();
  }

  // Next event within 5 s, or a test failure.
  static WatchEvent nextEvent(Watch& w) {
    auto r = w.next(5s);
    EXPECT_TRUE(r.isOk()) << r.status();
    if (!r.isOk() || !r->has_value()) {
      ADD_FAILURE() << "no watch event within 5 s";
      return {};
    }
    return **r;
  }

  EtcdFixture* etcd_ = nullptr;
  std::unique_ptr<EtcdStore> store_;
};

// --------------------------------------------------------------------------------------------
// Beyond the conformance suite

// A watch queue of 4 and 200 writes: the reader stops pulling from etcd while the queue is full
// (gRPC flow control), so the slow consumer still gets every event, in order.
TEST_F(EtcdStoreTest, SlowWatcherLosesNothing) {
  EtcdStoreOptions o = optionsFor(*etcd_, uniquePrefix());
  o.watchQueueCapacity = 4;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto store, EtcdStore::connect(o));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto w, store->watch("", 0));
  constexpr int kWrites = 200;
  std::vector<std::int64_t> revs;
  for (int i = 0; i < kWrites; ++i) {
    SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r, store->create("k" + std::to_string(i), "v"));
    revs.push_back(r);
  }
  for (int i = 0; i < kWrites; ++i) {
    const WatchEvent ev = nextEvent(*w);
    ASSERT_EQ(ev.kv.modRevision, revs[i]) << "event " << i;
    ASSERT_EQ(ev.kv.key, "k" + std::to_string(i));
  }
}

// etcd keeps the change at the compaction revision, so a watch from one before it still works;
// other clients learn the compaction by probing (connect() or refreshCompactedRevision()).
TEST_F(EtcdStoreTest, CompactionAsSeenByOtherClients) {
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t r1, store_->create("c/a", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t r2, store_->update("c/a", "2", r1));
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t r3, store_->update("c/a", "3", r2));
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t r4, store_->create("c/b", "4"));

  // Opened before the compaction, so its cache is stale until it learns otherwise.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto other, EtcdStore::connect(optionsFor(*etcd_, uniquePrefix())));
  SKIFF_ASSERT_OK(store_->compact(r3));
  EXPECT_EQ(store_->compactedRevision(), r3);
  EXPECT_LT(other->compactedRevision(), r3);

  SKIFF_ASSERT_OK_AND_ASSIGN(auto w, store_->watch("c/", r2));
  EXPECT_EQ(nextEvent(*w).kv.modRevision, r3);
  EXPECT_EQ(nextEvent(*w).kv.modRevision, r4);
  EXPECT_EQ(store_->watch("c/", r1).status().code(), StatusCode::kGone);

  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t probed, other->refreshCompactedRevision());
  EXPECT_EQ(probed, r3);
  EXPECT_EQ(other->compactedRevision(), r3);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto late, EtcdStore::connect(optionsFor(*etcd_, uniquePrefix())));
  EXPECT_EQ(late->compactedRevision(), r3);  // probed at connect()
}

TEST_F(EtcdStoreTest, WatchEndsWhenStoreCloses) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto w, store_->watch("", 0));
  store_.reset();
  auto r = w->next(5s);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
}

// --------------------------------------------------------------------------------------------
// etcd specifics

TEST(EtcdUrlTest, ParsesEndpointsAndPrefix) {
  SKIFF_ASSERT_OK_AND_ASSIGN(EtcdStoreOptions o, parseEtcdUrl("etcd://127.0.0.1:2379"));
  EXPECT_EQ(o.endpoints, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(o.keyPrefix, "/skiff/");
  EXPECT_FALSE(o.tls.has_value());

  SKIFF_ASSERT_OK_AND_ASSIGN(o, parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2:2380/cluster-a/"));
  EXPECT_EQ(o.endpoints, (std::vector<std::string>{"10.0.0.1:2379", "10.0.0.2:2380"}));
  EXPECT_EQ(o.keyPrefix, "/cluster-a/");

  SKIFF_ASSERT_OK_AND_ASSIGN(o, parseEtcdUrl("etcd://h:1/no/trailing/slash"));
  EXPECT_EQ(o.keyPrefix, "/no/trailing/slash/");

  SKIFF_ASSERT_OK_AND_ASSIGN(o, parseEtcdUrl("etcds://etcd.example.org:2379/"));
  EXPECT_TRUE(o.tls.has_value());
  EXPECT_EQ(o.keyPrefix, "/skiff/");
  SKIFF_ASSERT_OK_AND_ASSIGN(o, parseEtcdUrl("etcd://[::1]:2379"));
  EXPECT_EQ(o.endpoints, std::vector<std::string>{"[::1]:2379"});
}

TEST(EtcdUrlTest, RejectsMalformedUrls) {
  for (const char* bad :
       {"", "127.0.0.1:2379", "http://127.0.0.1:2379", "etcd://", "etcd:///prefix",
        "etcd://127.0.0.1", "etcd://127.0.0.1:", "etcd://127.0.0.1:abc", "etcd://127.0.0.1:0",
        "etcd://127.0.0.1:70000", "etcd://:2379", "etcd://a:1,,b:2", "etcd://a:1,",
        "etcd://::1:2379", "etcd://[::1]", "etcd://[nothex]:1", "etcd://user:pw@h:1",
        "etcd://h:1?x=y", "etcd://h o:1"}) {
    auto r = parseEtcdUrl(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << "accepted: \"" << bad << "\"";
    if (!r.isOk()) {
      EXPECT_NE(r.status().message().find("etcd URL"), std::string::npos) << r.status();
    }
  }
}

TEST(EtcdConnectTest, RejectsBadOptions) {
  EtcdStoreOptions o;
  EXPECT_EQ(EtcdStore::connect(o).status().code(), StatusCode::kInvalidArgument);
  o.endpoints = {"10.0.0.1:1", "etcd.example.org:2"};  // mixed: not expressible as one target
  EXPECT_EQ(EtcdStore::connect(o).status().code(), StatusCode::kInvalidArgument);
  o.endpoints = {"127.0.0.1:2379"};
  o.tls = EtcdTlsOptions{"/nonexistent/ca.pem", "", ""};
  auto r = EtcdStore::connect(o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
  o.tls = EtcdTlsOptions{"", "/some/cert.pem", ""};
  EXPECT_EQ(EtcdStore::connect(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(EtcdConnectTest, DeadEndpointIsUnavailableWithinDialTimeout) {
  SKIFF_ASSERT_OK_AND_ASSIGN(const int port, test::freeLoopbackPort());
  EtcdStoreOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(port)};
  o.dialTimeout = 500ms;
  o.requestTimeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = EtcdStore::connect(o);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_LT(took, 2500ms);
  std::cout << "[ info ] dead endpoint: " << r.status() << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
}

// Several IP endpoints: gRPC's pick_first skips the dead one. One DNS name: resolved by gRPC
// ("localhost" may yield ::1 first, where etcd does not listen).
TEST(EtcdConnectTest, FailsOverBetweenEndpoints) {
  EtcdFixture* etcd = sharedEtcd();
  ASSERT_NE(etcd, nullptr);
  SKIFF_ASSERT_OK_AND_ASSIGN(const int deadPort, test::freeLoopbackPort());
  EtcdStoreOptions o = optionsFor(*etcd, uniquePrefix());
  o.endpoints = {"127.0.0.1:" + std::to_string(deadPort), etcd->endpoint()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto store, EtcdStore::connect(o));
  SKIFF_ASSERT_OK(store->create("k", "v").status());

  o.endpoints = {"localhost:" + std::to_string(etcd->clientPort())};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto byName, EtcdStore::connect(o));
  SKIFF_ASSERT_OK_AND_ASSIGN(const KeyValue kv, byName->get("k"));
  EXPECT_EQ(kv.value, "v");
}

TEST(EtcdPrefixTest, StoresWithDifferentPrefixesAreIsolated) {
  EtcdFixture* etcd = sharedEtcd();
  ASSERT_NE(etcd, nullptr);
  // Sibling prefixes with a common stem ("/tN/iso/" and "/tN/isob/").
  const std::string prefixA = uniquePrefix() + "iso";
  const std::string prefixB = prefixA + "b/";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto a, EtcdStore::connect(optionsFor(*etcd, prefixA + "/")));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto b, EtcdStore::connect(optionsFor(*etcd, prefixB)));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watchB, b->watch("", 0));

  SKIFF_ASSERT_OK(a->create("x", "from-a").status());
  SKIFF_ASSERT_OK(b->create("x", "from-b").status());  // same key, no AlreadyExists
  SKIFF_ASSERT_OK_AND_ASSIGN(const KeyValue ax, a->get("x"));
  SKIFF_ASSERT_OK_AND_ASSIGN(const KeyValue bx, b->get("x"));
  EXPECT_EQ(ax.value, "from-a");
  EXPECT_EQ(bx.value, "from-b");

  SKIFF_ASSERT_OK_AND_ASSIGN(const ListResult la, a->list(""));
  ASSERT_EQ(la.items.size(), 1u);
  EXPECT_EQ(la.items[0].key, "x");  // prefix stripped
  SKIFF_ASSERT_OK_AND_ASSIGN(const ListResult lb, b->list(""));
  ASSERT_EQ(lb.items.size(), 1u);

  SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, watchB->next(5s));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kv.value, "from-b");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto none, watchB->next(100ms));
  EXPECT_FALSE(none.has_value()) << "b's watch saw " << none->kv.value;

  // The keys really live under the prefixes in etcd.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto out,
                             etcd->etcdctl({"get", prefixA + "/x", "--print-value-only"}));
  EXPECT_EQ(out.output, "from-a\n");
}

TEST(EtcdRestartTest, WatchEndsUnavailableAndWritesResumeAfterRestart) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto etcd, EtcdFixture::create());
  EtcdStoreOptions o = optionsFor(*etcd, "/r/");
  o.requestTimeout = 2s;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto store, EtcdStore::connect(o));
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t r1, store->create("k", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto w, store->watch("", r1 - 1));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto first, w->next(5s));
  ASSERT_TRUE(first.has_value());

  etcd->stop();
  const auto stopped = std::chrono::steady_clock::now();
  auto ended = w->next(10s);
  EXPECT_EQ(ended.status().code(), StatusCode::kUnavailable) << ended.status();
  std::cout << "[ info ] watch ended after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stopped)
                   .count()
            << " ms: " << ended.status() << "\n";
  EXPECT_EQ(w->next(10ms).status().code(), StatusCode::kUnavailable);  // stays ended

  // While etcd is down, requests fail (fast) instead of hanging.
  const auto t0 = std::chrono::steady_clock::now();
  auto down = store->update("k", "2", 0);
  EXPECT_FALSE(down.isOk());
  EXPECT_TRUE(down.status().code() == StatusCode::kUnavailable ||
              down.status().code() == StatusCode::kDeadlineExceeded)
      << down.status();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, o.requestTimeout + 1s);

  SKIFF_ASSERT_OK(etcd->start());
  const auto restarted = std::chrono::steady_clock::now();
  std::int64_t r2 = 0;
  Status lastError;
  const Status resumed = test::waitUntil(
      [&] {
        auto r = store->update("k", "2", r1);
        if (r.isOk()) r2 = *r;
        lastError = r.status();
        return r.isOk();
      },
      15s, "write after etcd restart", 50ms);
  ASSERT_TRUE(resumed.isOk()) << resumed << "; last error: " << lastError;
  std::cout << "[ info ] first write "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - restarted)
                   .count()
            << " ms after etcd was healthy again\n";

  // The consumer's recovery: re-watch from the last revision it saw.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto again, store->watch("", first->kv.modRevision));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, again->next(5s));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kv.modRevision, r2);
  EXPECT_EQ(ev->kv.value, "2");
}

// Mutual TLS: etcd started by hand (EtcdFixture speaks plain HTTP) with a server certificate for
// 127.0.0.1 and --client-cert-auth, all issued by a throw-away CA.
class EtcdTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::findProgram("etcd").isOk()) GTEST_SKIP() << "etcd not installed";
    SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, test::TempDir::create("etcd-tls"));
    dir_.emplace(std::move(dir));
    SKIFF_ASSERT_OK_AND_ASSIGN(auto ca, tls::CertificateAuthority::create("skiff-test-ca"));
    SKIFF_ASSERT_OK_AND_ASSIGN(auto server,
                               ca.issueNew({.commonName = "etcd",
                                            .ipAddresses = {"127.0.0.1"},
                                            .usage = tls::CertUsage::kServerAndClient}));
    SKIFF_ASSERT_OK_AND_ASSIGN(auto client, ca.issueNew({.commonName = "skiff"}));
    SKIFF_ASSERT_OK_AND_ASSIGN(auto otherCa, tls::CertificateAuthority::create("other-ca"));
    writePem("ca.pem", ca.certificate().toPem());
    writePem("other-ca.pem", otherCa.certificate().toPem());
    writePem("server.pem", server.cert.toPem());
    writePem("server-key.pem", server.key.toPem());
    writePem("client.pem", client.cert.toPem());
    writePem("client-key.pem", client.key.toPem());

    SKIFF_ASSERT_OK_AND_ASSIGN(port_, test::freeLoopbackPort());
    SKIFF_ASSERT_OK_AND_ASSIGN(const int peerPort, test::freeLoopbackPort());
    const std::string clientUrl = "https://127.0.0.1:" + std::to_string(port_);
    const std::string peerUrl = "http://127.0.0.1:" + std::to_string(peerPort);
    test::SubprocessOptions so;
    so.argv = {"etcd",
               "--name=tls",
               "--data-dir=" + file("data"),
               "--listen-client-urls=" + clientUrl,
               "--advertise-client-urls=" + clientUrl,
               "--listen-peer-urls=" + peerUrl,
               "--initial-advertise-peer-urls=" + peerUrl,
               "--initial-cluster=tls=" + peerUrl,
               "--heartbeat-interval=10",
               "--election-timeout=100",
               "--cert-file=" + file("server.pem"),
               "--key-file=" + file("server-key.pem"),
               "--trusted-ca-file=" + file("ca.pem"),
               "--client-cert-auth"};
    so.logFile = file("etcd.log");
    SKIFF_ASSERT_OK_AND_ASSIGN(auto proc, test::Subprocess::start(std::move(so)));
    etcd_.emplace(std::move(proc));
  }

  void TearDown() override {
    if (HasFailure() && etcd_) std::cerr << test::fileTail(etcd_->logFile(), 4096) << "\n";
  }

  void writePem(const std::string& name, const Result<std::string>& pem) {
    ASSERT_TRUE(pem.isOk()) << pem.status();
    SKIFF_ASSERT_OK(writeFileAtomic(file(name), *pem, 0600));
  }

  EtcdStoreOptions tlsOptions(std::string ca, std::string cert, std::string key) {
    EtcdStoreOptions o;
    o.endpoints = {"127.0.0.1:" + std::to_string(port_)};
    o.dialTimeout = 10s;  // also covers etcd's start-up
    o.requestTimeout = 5s;
    o.tls = EtcdTlsOptions{file(ca), cert.empty() ? "" : file(cert), key.empty() ? "" : file(key)};
    return o;
  }

  std::string file(std::string_view name) const { return dir_->file(name); }

  std::optional<test::TempDir> dir_;
  int port_ = 0;
  std::optional<test::Subprocess> etcd_;
};

TEST_F(EtcdTlsTest, MutualTlsWorksAndBadCredentialsAreRefused) {
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto store, EtcdStore::connect(tlsOptions("ca.pem", "client.pem", "client-key.pem")));
  SKIFF_ASSERT_OK_AND_ASSIGN(const std::int64_t rev, store->create("secure", "yes"));
  SKIFF_ASSERT_OK_AND_ASSIGN(const KeyValue kv, store->get("secure"));
  EXPECT_EQ(kv.value, "yes");
  EXPECT_EQ(kv.modRevision, rev);

  EtcdStoreOptions noClientCert = tlsOptions("ca.pem", "", "");
  noClientCert.dialTimeout = 1s;
  auto refused = EtcdStore::connect(noClientCert);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status();

  EtcdStoreOptions wrongCa = tlsOptions("other-ca.pem", "client.pem", "client-key.pem");
  wrongCa.dialTimeout = 1s;
  auto untrusted = EtcdStore::connect(wrongCa);
  EXPECT_EQ(untrusted.status().code(), StatusCode::kUnavailable) << untrusted.status();
  std::cout << "[ info ] no client cert: " << refused.status()
            << "\n[ info ] wrong CA: " << untrusted.status() << "\n";
}

// For information: write throughput with 1 and 64 concurrent writers (creates of distinct keys).
TEST_F(EtcdStoreTest, WriteThroughput) {
  for (const int writers : {1, 64}) {
    constexpr auto kDuration = 1500ms;
    std::atomic<long> done{0};
    std::atomic<long> failed{0};
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < writers; ++t) {
      threads.emplace_back([&, t] {
        for (long i = 0; std::chrono::steady_clock::now() - start < kDuration; ++i) {
          auto r = store_->create(
              "w" + std::to_string(writers) + "/" + std::to_string(t) + "/" + std::to_string(i),
              "value");
          (r.isOk() ? done : failed)++;
        }
      });
    }
    for (auto& t : threads) t.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(done.load(), 0);
    std::cout << "[ info ] " << writers << " writer(s): " << static_cast<long>(done / secs)
              << " writes/s\n";
    RecordProperty("writes_per_s_" + std::to_string(writers), static_cast<int>(done / secs));
  }
}

}  // namespace
}  // namespace skiff::common::store::etcd
