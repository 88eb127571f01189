// KubeClient and Informer against an in-process fake API server (common/http over TLS with a
// generated CA): error mapping, retries with backoff, bearer token and client certificate auth;
// list+watch, resume from the last resourceVersion when a watch ends, relist on 410 Gone (as an
// HTTP status and as a watch ERROR event) with the missed adds/deletes emitted, backoff on errors.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "common/fs.h"
#include "common/http/server.h"
#include "common/tls.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"
#include "virtual_node/kube/client.h"
#include "virtual_node/kube/informer.h"

namespace skiff::virtual_node::kube {
namespace {

using common::http::Request;
using common::http::ResponseWriter;
using namespace std::chrono_literals;

const test::Eventually eventually{10s};

Json statusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"code", code},     {"reason", reason},   {"message", message}};
}

// A scripted pods API: list (paginated), watch (from a history of events), canned answers.
class FakeApi {
 public:
  struct Canned {
    int code;
    Json body;
  };

  void start(const test::TempDir& dir) {
    auto ca = common::tls::CertificateAuthority::create("fake-api-ca");
    ASSERT_TRUE(ca.isOk());
    common::tls::IssueOptions so;
    so.commonName = "fake-api";
    so.ipAddresses = {"127.0.0.1"};
    so.usage = common::tls::CertUsage::kServer;
    auto server = ca->issueNew(so);
    common::tls::IssueOptions co;
    co.commonName = "vn-client";
    co.organizations = {"system:nodes"};
    auto client = ca->issueNew(co);
    ASSERT_TRUE(server.isOk() && client.isOk());
    caPem = *ca->certificate().toPem();
    clientCert = *client->cert.toPem();
    clientKey = *client->key.toPem();
    ASSERT_TRUE(common::writeFileAtomic(dir.file("ca.pem"), caPem).isOk());
    ASSERT_TRUE(common::writeFileAtomic(dir.file("srv.pem"), *server->cert.toPem()).isOk());
    ASSERT_TRUE(common::writeFileAtomic(dir.file("srv.key"), *server->key.toPem()).isOk());
    common::http::ServerOptions o;
    o.tls = common::tls::TlsFiles{dir.file("srv.pem"), dir.file("srv.key"), dir.file("ca.pem")};
    o.clientAuth = common::tls::ClientAuth::kOptional;
    auto s = common::http::Server::start(
        o, [this](const Request& r, ResponseWriter& w) { handle(r, w); });
    ASSERT_TRUE(s.isOk()) << s.status();
    server_ = std::move(*s);
  }
  ~FakeApi() {
    {
      std::lock_guard lock(mu);
      stopping = true;
      cv.notify_all();
    }
    if (server_) server_->stop();
  }

  KubeConfig config(bool withToken = true) const {
    KubeConfig c;
    c.server = "https://127.0.0.1:" + std::to_string(server_->port());
    c.caPem = caPem;
    if (withToken) c.token = "t0k3n";
    return c;
  }

  // Adds or replaces a pod; returns its resourceVersion.
  std::string put(const std::string& name, const std::string& value = "") {
    std::lock_guard lock(mu);
    ++revision;
    Json p = {
        {"metadata",
         {{"name", name}, {"namespace", "default"}, {"resourceVersion", std::to_string(revision)}}},
        {"spec", {{"value", value}}}};
    bool existed = pods.contains(name);
    pods[name] = p;
    history.push_back({revision, existed ? "MODIFIED" : "ADDED", p});
    cv.notify_all();
    return std::to_string(revision);
  }
  void erase(const std::string& name) {
    std::lock_guard lock(mu);
    ++revision;
    Json p = pods[name];
    p["metadata"]["resourceVersion"] = std::to_string(revision);
    pods.erase(name);
    history.push_back({revision, "DELETED", p});
    cv.notify_all();
  }
  // Ends every open watch stream (as a server timeout would).
  void closeWatches() {
    std::lock_guard lock(mu);
    ++closeGeneration;
    cv.notify_all();
  }
  // Forgets history up to now: watches from an older resourceVersion get 410 Gone.
  void compact(bool asErrorEvent) {
    std::lock_guard lock(mu);
    compactedThrough = revision;
    goneAsEvent = asErrorEvent;
    history.clear();
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mu);
    return seen;
  }
  int count(const std::string& method, const std::string& substring) const {
    int n = 0;
    for (const auto& r : requests())
      n += r.method == method && r.target.find(substring) != std::string::npos;
    return n;
  }

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Json> pods;
  struct Event {
    long long revision;
    std::string type;
    Json object;
  };
  std::vector<Event> history;
  long long revision = 0;
  long long compactedThrough = 0;
  bool goneAsEvent = false;
  bool paused = false;  // watch requests wait (the "network" is down)
  int closeGeneration = 0;
  bool stopping = false;
  std::map<std::string, std::deque<Canned>> canned;  // "METHOD path" → answers to give first
  std::vector<Request> seen;
  std::string caPem, clientCert, clientKey;

 private:
  void handle(const Request& req, ResponseWriter& w) {
    std::unique_lock lock(mu);
    seen.push_back(req);
    auto c = canned.find(req.method + " " + req.path);
    if (c != canned.end() && !c->second.empty()) {
      Canned answer = c->second.front();
      c->second.pop_front();
      lock.unlock();
      w.send(answer.code, "application/json", common::dumpJson(answer.body));
      return;
    }
    if (req.path != "/api/v1/pods") {
      lock.unlock();
      w.send(404, "application/json", common::dumpJson(statusBody(404, "NotFound", "no route")));
      return;
    }
    if (req.queryParam("watch").value_or("") != "true") {
      // Paginated list in name order; continue = last name returned.
      int limit = std::stoi(req.queryParam("limit").value_or("500"));
      std::string after = req.queryParam("continue").value_or("");
      Json items = Json::array();
      std::string last;
      bool more = false;
      for (const auto& [name, p] : pods) {
        if (!after.empty() && name <= after) continue;
        if (static_cast<int>(items.size()) == limit) {
          more = true;
          break;
        }
        items.push_back(p);
        last = name;
      }
      Json list = {{"kind", "PodList"},
                   {"apiVersion", "v1"},
                   {"metadata", {{"resourceVersion", std::to_string(revision)}}},
                   {"items", items}};
      if (more) list["metadata"]["continue"] = last;
      lock.unlock();
      w.send(200, "application/json", common::dumpJson(list));
      return;
    }
    cv.wait(lock, [&] { return !paused || stopping; });
    long long from = std::stoll(req.queryParam("resourceVersion").value_or("0"));
    if (from < compactedThrough) {
      Json gone = statusBody(410, "Expired", "too old resource version: " + std::to_string(from));
      bool asEvent = goneAsEvent;
      lock.unlock();
      if (asEvent) {
        w.startStream(200, "application/json");
        w.writeChunk(common::dumpJson(Json{{"type", "ERROR"}, {"object", gone}}) + "\n");
      } else {
        w.send(410, "application/json", common::dumpJson(gone));
      }
      return;
    }
    int generation = closeGeneration;
    lock.unlock();
    w.startStream(200, "application/json");
    long long sent = from;
    for (;;) {
      std::vector<Event> out;
      {
        std::unique_lock l(mu);
        cv.wait_for(l, 50ms);
        if (stopping || closeGeneration != generation || w.cancelled()) return;
        for (const auto& e : history) {
          if (e.revision > sent) out.push_back(e);
        }
      }
      for (const auto& e : out) {
        sent = e.revision;
        if (!w.writeChunk(common::dumpJson(Json{{"type", e.type}, {"object", e.object}}) + "\n")) {
          return;
        }
      }
    }
  }

  std::unique_ptr<common::http::Server> server_;
};

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = test::TempDir::create("fake-api");
    ASSERT_TRUE(d.isOk());
    dir.emplace(std::move(*d));
    api.start(*dir);
  }
  std::optional<test::TempDir> dir;
  FakeApi api;
};

TEST_F(KubeClientTest, MapsStatusesToCodesWithTheServerMessage) {
  KubeClient c(api.config());
  auto nf = c.get("/api/v1/namespaces/default/pods/nope");
  EXPECT_EQ(nf.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(
      nf.status().message().find("GET /api/v1/namespaces/default/pods/nope: no route (HTTP 404)"),
      std::string::npos)
      << nf.status();
  api.canned["POST /api/v1/namespaces/default/pods"] = {
      {409, statusBody(409, "AlreadyExists", "pods \"a\" already exists")},
      {409, statusBody(409, "Conflict", "the object has been modified")},
      {422, statusBody(422, "Invalid", "spec.containers: Required value")},
      {401, statusBody(401, "Unauthorized", "Unauthorized")},
      {403, statusBody(403, "Forbidden", "forbidden")}};
  std::string path = resources::kPods.path("default");
  EXPECT_EQ(c.create(path, Json::object()).status().code(), common::StatusCode::kAlreadyExists);
  EXPECT_EQ(c.create(path, Json::object()).status().code(), common::StatusCode::kConflict);
  auto invalid = c.create(path, Json::object());
  EXPECT_EQ(invalid.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find("spec.containers: Required value"), std::string::npos);
  EXPECT_EQ(c.create(path, Json::object()).status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ(c.create(path, Json::object()).status().code(), common::StatusCode::kPermissionDenied);
}

TEST_F(KubeClientTest, RetriesOnlyWhatTheServerDidNotProcess) {
  KubeClientOptions o;
  o.retryBaseDelay = 5ms;
  KubeClient c(api.config(), o);
  api.canned["GET /api/v1/namespaces/default/pods/x"] = {
      {503, statusBody(503, "ServiceUnavailable", "busy")},
      {503, statusBody(503, "ServiceUnavailable", "busy")},
      {200, Json{{"metadata", {{"name", "x"}}}}}};
  auto got = c.get("/api/v1/namespaces/default/pods/x");
  SKIFF_ASSERT_OK(got);
  EXPECT_EQ((*got)["metadata"]["name"], "x");
  EXPECT_EQ(api.count("GET", "/pods/x"), 3);
  // A POST that failed inside the server is not repeated (it may have taken effect)...
  api.canned["POST /api/v1/namespaces/default/pods"] = {
      {500, statusBody(500, "InternalError", "boom")}, {201, Json::object()}};
  EXPECT_EQ(c.create(resources::kPods.path("default"), Json::object()).status().code(),
            common::StatusCode::kUnavailable);
  EXPECT_EQ(api.count("POST", "/pods"), 1);
  // ...but one refused with 429 is.
  api.canned["POST /api/v1/namespaces/default/pods"] = {
      {429, statusBody(429, "TooManyRequests", "slow down")}, {201, Json{{"ok", true}}}};
  SKIFF_EXPECT_OK(c.create(resources::kPods.path("default"), Json::object()));
  EXPECT_EQ(api.count("POST", "/pods"), 3);
  // Connection refused: retried, then Unavailable naming the request.
  KubeConfig dead = api.config();
  auto port = test::freeLoopbackPort();
  ASSERT_TRUE(port.isOk());
  dead.server = "https://127.0.0.1:" + std::to_string(*port);
  KubeClient d(dead, o);
  auto r = d.get("/version");
  EXPECT_EQ(r.status().code(), common::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("GET /version"), std::string::npos);
}

TEST_F(KubeClientTest, SendsTheTokenAndTheClientCertificate) {
  KubeConfig cfg = api.config(true);
  cfg.clientCertPem = api.clientCert;
  cfg.clientKeyPem = api.clientKey;
  KubeClient c(cfg);
  (void)c.get("/api/v1/pods");
  auto reqs = api.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.back().header("authorization"), "Bearer t0k3n");
  ASSERT_TRUE(reqs.back().clientCommonName.has_value());
  EXPECT_EQ(*reqs.back().clientCommonName, "vn-client");
  // A server the CA did not sign is refused.
  KubeConfig wrong = api.config();
  auto other = common::tls::CertificateAuthority::create("other");
  ASSERT_TRUE(other.isOk());
  wrong.caPem = *other->certificate().toPem();
  KubeClientOptions o;
  o.maxRetries = 0;
  KubeClient w(wrong, o);
  EXPECT_EQ(w.get("/api/v1/pods").status().code(), common::StatusCode::kUnavailable);
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  EventHandlers handlers() {
    return {[this](const ObjectPtr& o) { add("add " + objectKeyOf(*o)); },
            [this](const ObjectPtr&, const ObjectPtr& n) {
              add("update " + objectKeyOf(*n) + " " + (*n)["spec"].value("value", ""));
            },
            [this](const ObjectPtr& o) { add("delete " + objectKeyOf(*o)); }};
  }
  void add(std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  }
  bool has(const std::string& e) {
    std::lock_guard lock(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
};

InformerOptions fastOptions() {
  InformerOptions o;
  o.pageSize = 2;  // exercise pagination
  o.minBackoff = 10ms;
  o.maxBackoff = 100ms;
  return o;
}

TEST_F(KubeClientTest, InformerListsPaginatedThenWatches) {
  for (const char* n : {"a", "b", "c", "d", "e"}) api.put(n);
  KubeClient c(api.config());
  Informer inf(c, resources::kPods, fastOptions());
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  EXPECT_EQ(inf.list().size(), 5u);
  EXPECT_TRUE(rec.has("add default/e"));
  api.put("f");
  api.put("a", "changed");
  api.erase("b");
  EXPECT_TRUE(eventually([&] {
    return rec.has("add default/f") && rec.has("update default/a changed") &&
           rec.has("delete default/b");
  }));
  EXPECT_EQ(inf.get("default/a")->at("spec").value("value", ""), "changed");
  EXPECT_EQ(inf.get("default/b"), nullptr);
  EXPECT_EQ(inf.listCount(), 1u);
}

TEST_F(KubeClientTest, InformerResumesFromTheLastResourceVersion) {
  api.put("a");
  KubeClient c(api.config());
  Informer inf(c, resources::kPods, fastOptions());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  std::string rv = api.put("b");
  ASSERT_TRUE(eventually([&] { return inf.get("default/b") != nullptr; }));
  api.closeWatches();  // the server ends the stream (timeout)
  ASSERT_TRUE(eventually([&] { return api.count("GET", "resourceVersion=" + rv + "&") >= 1; }))
      << "no re-watch from resourceVersion " << rv;
  api.put("c");
  EXPECT_TRUE(eventually([&] { return inf.get("default/c") != nullptr; }));
  EXPECT_EQ(inf.listCount(), 1u) << "resuming must not relist";
  EXPECT_EQ(api.count("GET", "watch=true"), 2);
}

void relistTest(FakeApi& api, bool asEvent) {
  for (const char* n : {"a", "b", "c"}) api.put(n);
  KubeClient c(api.config());
  Informer inf(c, resources::kPods, fastOptions());
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  // While the watch is down, history moves on and is compacted: the informer's resourceVersion
  // is too old, so it must relist and emit what it missed.
  {
    std::lock_guard lock(api.mu);
    api.paused = true;
    ++api.closeGeneration;
    api.cv.notify_all();
  }
  api.erase("a");
  api.put("b", "v2");
  api.put("d");
  api.compact(asEvent);
  {
    std::lock_guard lock(api.mu);
    api.paused = false;
    api.cv.notify_all();
  }
  EXPECT_TRUE(eventually([&] {
    return rec.has("delete default/a") && rec.has("update default/b v2") &&
           rec.has("add default/d");
  })) << "missed changes not emitted";
  EXPECT_EQ(inf.listCount(), 2u);
  EXPECT_EQ(inf.list().size(), 3u);
  // And it watches again from the new list.
  api.put("e");
  EXPECT_TRUE(eventually([&] { return inf.get("default/e") != nullptr; }));
}

TEST_F(KubeClientTest, InformerRelistsOnHttpGone) { relistTest(api, false); }

TEST_F(KubeClientTest, InformerRelistsOnGoneErrorEvent) { relistTest(api, true); }

TEST_F(KubeClientTest, InformerBacksOffAndRetriesFailedLists) {
  api.put("a");
  api.canned["GET /api/v1/pods"] = {{500, statusBody(500, "InternalError", "etcd down")},
                                    {500, statusBody(500, "InternalError", "etcd down")},
                                    {500, statusBody(500, "InternalError", "etcd down")}};
  KubeClientOptions co;
  co.maxRetries = 0;  // leave retrying to the informer
  KubeClient c(api.config(), co);
  Informer inf(c, resources::kPods, fastOptions());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  EXPECT_EQ(inf.list().size(), 1u);
  EXPECT_GE(api.count("GET", "limit="), 4);
}

TEST_F(KubeClientTest, StreamsEndWhenStopIsRequested) {
  KubeClient c(api.config());
  std::stop_source stop;
  std::thread t([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  auto started = std::chrono::steady_clock::now();
  common::Status s = c.streamLines(
      "/api/v1/pods?watch=true&resourceVersion=0", [](std::string_view) { return true; },
      stop.get_token(), 60s);
  t.join();
  SKIFF_EXPECT_OK(s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace skiff::virtual_node::kube
