// The hub's APIs end to end: REST shapes (docs/hub-api.md), Server-Sent Events, gRPC watch
// streams (snapshot, SYNCED, changes), logs relayed over MQTT RPC (gRPC and REST, following and
// cancelled), module restart, fleet status, /metrics and the dashboard's static files.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "tests/hub/test_util.h"
#include "tests/support/http.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;
using common::Json;

class HubApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dash = TempDir::create("dashboard");
    ASSERT_TRUE(dash.isOk());
    dash_.emplace(std::move(*dash));
    ASSERT_TRUE(common::makeDirs(dash_->file("assets")).isOk());
    ASSERT_TRUE(common::writeFileAtomic(dash_->file("index.html"), "<!doctype html>skiff").isOk());
    ASSERT_TRUE(
        common::writeFileAtomic(dash_->file("assets/app-1a2b3c.js"), "console.log(1)").isOk());
    HubFixtureOptions o;
    o.dashboardDir = dash_->path();
    auto hub = HubFixture::create(o);
    ASSERT_TRUE(hub.isOk()) << hub.status();
    hub_ = std::move(*hub);
    auto creds = hub_->enrollDevice("api-1", {{"site", "a"}});
    ASSERT_TRUE(creds.isOk()) << creds.status();
    auto dev = SimDevice::start(hub_->simDeviceOptions(*creds));
    ASSERT_TRUE(dev.isOk());
    dev_ = std::move(*dev);
    ASSERT_TRUE(dev_->waitConnected(20s).isOk());
    ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web/nginx", "nginx:1"}})).ok());
    ASSERT_TRUE(dev_->waitFor([](SimAgent& a) { return a.appliedVersion() > 0; }, 20s));
    ASSERT_TRUE(waitUntil([&] { return getDevice(*hub_, "api-1").online(); }, 20s).isOk());
  }
  Result<HttpResponse> get(const std::string& path, const std::string& token) {
    HttpRequest r;
    r.url = hub_->httpsUrl() + path;
    r.caFile = hub_->caFile();
    if (!token.empty()) r.headers = {"Authorization: Bearer " + token};
    return httpRequest(r);
  }
  Json getJson(const std::string& path) {
    auto r = get(path, hub_->readerToken());
    EXPECT_TRUE(r.isOk()) << r.status();
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    auto j = common::parseJson(r->body);
    EXPECT_TRUE(j.isOk()) << r->body;
    return j.isOk() ? *j : Json();
  }
  std::optional<TempDir> dash_;
  std::unique_ptr<HubFixture> hub_;
  std::unique_ptr<SimDevice> dev_;
};

TEST_F(HubApiTest, RestShapesFollowTheContract) {
  Json who = getJson("/api/v1/whoami");
  EXPECT_EQ(who["role"], "reader");
  SKIFF_ASSERT_OK(dev_->sendMetrics());
  ASSERT_TRUE(
      waitUntil([&] { return !getDevice(*hub_, "api-1").metrics_json().empty(); }, 10s).isOk());

  Json list = getJson("/api/v1/devices?selector=site%3Da");
  ASSERT_EQ(list["items"].size(), 1u);
  Json d = list["items"][0];
  EXPECT_EQ(d["id"], "api-1");
  EXPECT_EQ(d["labels"]["site"], "a");
  EXPECT_EQ(d["implicitLabels"]["skiff.io/arch"], "arm64");
  EXPECT_TRUE(d["online"].get<bool>());
  EXPECT_TRUE(d["enrolled"].get<bool>());
  EXPECT_TRUE(d["desiredVersion"].is_number_integer());
  EXPECT_EQ(d["desiredVersion"], d["appliedVersion"]);
  EXPECT_TRUE(d["reported"].is_object()) << "reportedJson is embedded as JSON";
  EXPECT_EQ(d["reported"]["facts"]["arch"], "arm64");
  EXPECT_TRUE(d["metrics"].is_object());
  EXPECT_EQ(d["deploymentIds"], Json::array({"web"}));
  EXPECT_FALSE(d.contains("metricsHistory")) << "history only on GET of one device";
  EXPECT_EQ(getJson("/api/v1/devices?selector=site%3Db")["items"].size(), 0u);
  auto badSel = get("/api/v1/devices?selector=site%20in%20(", hub_->readerToken());
  EXPECT_EQ(badSel->status, 400);
  EXPECT_NE(badSel->body.find("\"InvalidArgument\""), std::string::npos) << badSel->body;

  Json one = getJson("/api/v1/devices/api-1");
  ASSERT_TRUE(one["metricsHistory"].is_array());
  EXPECT_EQ(one["metricsHistory"].size(), 1u);
  EXPECT_EQ(one["metricsHistory"][0]["schema"], 1);
  auto missing = get("/api/v1/devices/nope", hub_->readerToken());
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("\"NotFound\""), std::string::npos);

  Json deps = getJson("/api/v1/deployments");
  ASSERT_EQ(deps["items"].size(), 1u);
  EXPECT_EQ(deps["items"][0]["modules"][0]["name"], "web/nginx");
  EXPECT_EQ(deps["items"][0]["status"]["targeted"], 1);
  EXPECT_FALSE(deps["items"][0]["status"].contains("devices"));
  Json web = getJson("/api/v1/deployments/web");
  ASSERT_EQ(web["status"]["devices"].size(), 1u);
  EXPECT_EQ(web["status"]["devices"][0]["deviceId"], "api-1");
  EXPECT_EQ(web["status"]["devices"][0]["modules"][0]["state"], "running");

  Json overview = getJson("/api/v1/overview");
  EXPECT_EQ(overview["devices"],
            Json({{"total", 1}, {"enrolled", 1}, {"online", 1}, {"offline", 0}, {"degraded", 0}}));
  EXPECT_EQ(overview["byLabel"]["site"],
            Json::array(
                {{{"value", "a"}, {"total", 1}, {"online", 1}, {"offline", 0}, {"degraded", 0}}}));
  EXPECT_EQ(overview["byLabel"]["skiff.io/arch"][0]["value"], "arm64");
  EXPECT_FALSE(overview["byLabel"].contains("skiff.io/device-id"));
  EXPECT_EQ(overview["deployments"], Json({{"total", 1}, {"degraded", 0}}));
  EXPECT_TRUE(overview["brokerConnected"].get<bool>());
  EXPECT_EQ(overview["fleet"]["devices"], 1);
  EXPECT_LE(overview["recentEvents"].size(), 20u);
  Json events = getJson("/api/v1/events?limit=3");
  ASSERT_EQ(events["items"].size(), 3u);
  EXPECT_GT(events["items"][0]["seq"].get<int>(), events["items"][1]["seq"].get<int>());

  // Pods: deployments the edge provider annotated.
  v1::Deployment pod = deployment("default.web-abc", "site=a", {{"web-abc/c", "busybox"}});
  (*pod.mutable_annotations())["skiff.io/pod-namespace"] = "default";
  (*pod.mutable_annotations())["skiff.io/pod-name"] = "web-abc";
  (*pod.mutable_annotations())["skiff.io/pod-uid"] = "u-1";
  (*pod.mutable_annotations())["skiff.io/node"] = "skiff-fleet";
  ASSERT_TRUE(apply(*hub_, pod).ok());
  Json pods = getJson("/api/v1/pods");
  ASSERT_EQ(pods["items"].size(), 1u);
  Json p = pods["items"][0];
  EXPECT_EQ(p["namespace"], "default");
  EXPECT_EQ(p["name"], "web-abc");
  EXPECT_EQ(p["uid"], "u-1");
  EXPECT_EQ(p["node"], "skiff-fleet");
  EXPECT_EQ(p["deploymentId"], "default.web-abc");
  EXPECT_EQ(p["targetSelector"], "site=a");
  EXPECT_EQ(p["status"]["targeted"], 1);
  EXPECT_FALSE(p["status"].contains("devices"));

  // Admin label update; then deployment delete.
  HttpRequest put;
  put.method = "PUT";
  put.url = hub_->httpsUrl() + "/api/v1/devices/api-1/labels";
  put.caFile = hub_->caFile();
  put.headers = {"Authorization: Bearer " + hub_->adminToken()};
  put.body = R"({"labels":{"site":"a","rack":"7"}})";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto putResp, httpRequest(put));
  EXPECT_EQ(putResp.status, 200) << putResp.body;
  EXPECT_EQ(getDevice(*hub_, "api-1").labels().at("rack"), "7");
  put.body = R"({"labels":{"skiff.io/arch":"x"}})";
  EXPECT_EQ(httpRequest(put)->status, 400);
  put.body = R"({"labelz":{}})";
  EXPECT_EQ(httpRequest(put)->status, 400);
  put.body = R"(not json)";
  EXPECT_EQ(httpRequest(put)->status, 400);
  HttpRequest del = put;
  del.method = "DELETE";
  del.body.clear();
  del.url = hub_->httpsUrl() + "/api/v1/deployments/default.web-abc";
  auto deleted = httpRequest(del);
  EXPECT_EQ(deleted->status, 200);
  EXPECT_EQ(common::parseJson(deleted->body).valueOr(Json()),
            Json({{"id", "default.web-abc"}, {"deleted", true}}));
  EXPECT_EQ(httpRequest(del)->status, 404);
}

// docs/hub-api.md "JSON conventions": degraded devices (failing or unhealthy module, online
// only), a deployment is degraded only when its own status counts a failure, every label key
// with its top 50 values in value order.
TEST_F(HubApiTest, OverviewCountsHealthPerLabelValue) {
  auto creds2 = hub_->enrollDevice("api-2", {{"site", "b"}});
  ASSERT_TRUE(creds2.isOk()) << creds2.status();
  auto o2 = hub_->simDeviceOptions(*creds2);
  o2.arch = "arm";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto dev2, SimDevice::start(o2));
  dev2->agent().setFailure("sensor/reader", "CrashLoopBackOff");
  auto creds3 = hub_->enrollDevice("api-3", {{"site", "b"}});
  ASSERT_TRUE(creds3.isOk()) << creds3.status();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto dev3, SimDevice::start(hub_->simDeviceOptions(*creds3)));
  dev3->agent().setUnhealthy("base/agent", true);
  // Registered only (never connected): offline, not enrolled.
  SKIFF_ASSERT_OK(hub_->createDevice("api-4", {{"site", "b"}}));
  ASSERT_TRUE(apply(*hub_, deployment("sensor", "site=b", {{"sensor/reader", "sensor:1"}})).ok());
  ASSERT_TRUE(apply(*hub_, deployment("base", "site in (a,b)", {{"base/agent", "agent:1"}})).ok());
  ASSERT_TRUE(waitUntil(
                  [&] {
                    return getDeployment(*hub_, "sensor").status().failed() == 1 &&
                           getDeployment(*hub_, "base").status().applied() == 3;
                  },
                  20s)
                  .isOk());
  Json o = getJson("/api/v1/overview");
  EXPECT_EQ(o["devices"],
            Json({{"total", 4}, {"enrolled", 3}, {"online", 3}, {"offline", 1}, {"degraded", 2}}));
  EXPECT_EQ(o["byLabel"]["site"],
            Json::array(
                {{{"value", "a"}, {"total", 1}, {"online", 1}, {"offline", 0}, {"degraded", 0}},
                 {{"value", "b"}, {"total", 3}, {"online", 2}, {"offline", 1}, {"degraded", 2}}}));
  EXPECT_EQ(
      o["byLabel"]["skiff.io/arch"],
      Json::array(
          {{{"value", "arm"}, {"total", 1}, {"online", 1}, {"offline", 0}, {"degraded", 1}},
           {{"value", "arm64"}, {"total", 2}, {"online", 2}, {"offline", 0}, {"degraded", 1}}}));
  // "sensor" fails on api-2; "base" runs there (api-2 is degraded by the other deployment) but
  // is unhealthy on api-3, which the deployment status does not count as failed.
  EXPECT_EQ(getDeployment(*hub_, "base").status().failed(), 0);
  EXPECT_EQ(o["deployments"], Json({{"total", 3}, {"degraded", 1}}));

  // Offline devices are never degraded.
  dev2->bus().stop();
  std::string hubCert = hub_->dataDir() + "/pki/hub-mqtt-client.pem";
  std::string hubKey = hub_->dataDir() + "/pki/hub-mqtt-client.key";
  (void)mosquittoPub(*hub_, hubCert, hubKey, "skiff/v1/devices/api-2/presence",
                     R"({"schema":1,"state":"offline"})");
  ASSERT_TRUE(waitUntil([&] { return !getDevice(*hub_, "api-2").online(); }, 10s).isOk());
  o = getJson("/api/v1/overview");
  EXPECT_EQ(o["devices"]["degraded"], 1);
  EXPECT_EQ(o["deployments"]["degraded"], 0);

  // 51 values of one key: the 50 with the most devices, in value order.
  for (int i = 0; i <= 50; ++i) {
    char id[16], rack[8];
    std::snprintf(id, sizeof id, "rack-%02d", i);
    std::snprintf(rack, sizeof rack, "r%02d", i);
    SKIFF_ASSERT_OK(hub_->createDevice(id, {{"rack", rack}}));
  }
  SKIFF_ASSERT_OK(hub_->createDevice("rack-extra", {{"rack", "r50"}}));
  Json racks = getJson("/api/v1/overview")["byLabel"]["rack"];
  ASSERT_EQ(racks.size(), 50u);
  EXPECT_EQ(racks[0]["value"], "r00");
  EXPECT_EQ(racks[48]["value"], "r48");
  EXPECT_EQ(racks[49]["value"], "r50") << "r49 (one device) gives way to r50 (two)";
  EXPECT_EQ(racks[49]["total"], 2);
}

TEST_F(HubApiTest, ServerSentEventsStreamChanges) {
  std::string received;
  std::mutex mu;
  // curl streams the events for a few seconds while we make changes.
  std::thread reader([&] {
    auto r = runCommand(
        {"curl", "-sN", "--max-time", "6", "--cacert", hub_->caFile(), "-H",
         "Authorization: Bearer " + hub_->readerToken(), hub_->httpsUrl() + "/api/v1/stream"},
        {}, 30s);
    std::lock_guard lock(mu);
    if (r.isOk()) received = r->output;
  });
  std::this_thread::sleep_for(1s);
  v1::UpdateDeviceLabelsRequest req;
  req.set_id("api-1");
  (*req.mutable_labels())["site"] = "a";
  (*req.mutable_labels())["zone"] = "z1";
  v1::Device out;
  ASSERT_TRUE(hub_->stub()->UpdateDeviceLabels(hub_->context().get(), req, &out).ok());
  std::this_thread::sleep_for(1s);  // a separate batch
  SKIFF_ASSERT_OK(dev_->sendMetrics());
  reader.join();
  std::lock_guard lock(mu);
  EXPECT_NE(received.find("event: hub"), std::string::npos) << received;
  EXPECT_NE(received.find("event: device\ndata: {"), std::string::npos) << received;
  EXPECT_NE(received.find("\"zone\":\"z1\""), std::string::npos) << received;
  EXPECT_NE(received.find("event: event"), std::string::npos) << received;
  // A metrics report is a compact heartbeat, not the whole device again.
  EXPECT_NE(received.find("event: device-heartbeat\ndata: {\"id\":\"api-1\","
                          "\"lastSeenUnixMs\":"),
            std::string::npos)
      << received;
  auto hb = received.find("event: device-heartbeat");
  std::string heartbeat =
      hb == std::string::npos ? "" : received.substr(hb, received.find("\n\n", hb) - hb);
  EXPECT_EQ(heartbeat.find("\"reported\""), std::string::npos) << heartbeat;
  EXPECT_NE(heartbeat.find("\"cpuPercent\":12.5"), std::string::npos) << heartbeat;
}

TEST_F(HubApiTest, WatchDevicesSendsSnapshotSyncedAndChanges) {
  auto stub = hub_->stub();
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + hub_->readerToken());
  v1::WatchRequest wr;
  wr.set_label_selector("site=a");
  auto stream = stub->WatchDevices(&ctx, wr);
  v1::DeviceEvent ev;
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.type(), v1::ADDED);
  EXPECT_EQ(ev.device().id(), "api-1");
  ASSERT_TRUE(stream->Read(&ev));
  EXPECT_EQ(ev.type(), v1::SYNCED);
  // Relabel out of the selector: DELETED for this watch.
  v1::UpdateDeviceLabelsRequest req;
  req.set_id("api-1");
  (*req.mutable_labels())["site"] = "b";
  v1::Device out;
  ASSERT_TRUE(stub->UpdateDeviceLabels(hub_->context().get(), req, &out).ok());
  bool deleted = false;
  for (int i = 0; i < 20 && !deleted; ++i) {
    ASSERT_TRUE(stream->Read(&ev));
    deleted = ev.type() == v1::DELETED && ev.device().id() == "api-1";
  }
  EXPECT_TRUE(deleted);
  ctx.TryCancel();
  while (stream->Read(&ev)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);

  grpc::ClientContext ctx2;
  ctx2.AddMetadata("authorization", "Bearer " + hub_->readerToken());
  v1::WatchRequest all;
  auto deps = stub->WatchDeployments(&ctx2, all);
  v1::DeploymentEvent de;
  ASSERT_TRUE(deps->Read(&de));
  EXPECT_EQ(de.type(), v1::ADDED);
  EXPECT_EQ(de.deployment().id(), "web");
  ASSERT_TRUE(deps->Read(&de));
  EXPECT_EQ(de.type(), v1::SYNCED);
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=b", {{"web/nginx", "nginx:2"}})).ok());
  bool modified = false;
  for (int i = 0; i < 20 && !modified; ++i) {
    ASSERT_TRUE(deps->Read(&de));
    modified = de.type() == v1::MODIFIED && de.deployment().generation() == 2;
  }
  EXPECT_TRUE(modified);
  ctx2.TryCancel();
  while (deps->Read(&de)) {
  }
}

TEST_F(HubApiTest, LogsAndRestartAreRelayedToTheAgent) {
  dev_->agent().setLogLines("web/nginx", {"one\n", "two\n", "three\n"});
  auto stub = hub_->stub();
  {
    auto ctx = hub_->context(hub_->readerToken());
    v1::LogsRequest req;
    req.set_device_id("api-1");
    req.set_module("web/nginx");
    req.set_tail_lines(2);
    auto stream = stub->StreamLogs(ctx.get(), req);
    std::string text;
    v1::LogChunk chunk;
    while (stream->Read(&chunk)) text += chunk.data();
    auto s = stream->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(text, "two\nthree\n");
  }
  {
    // Following: chunks keep coming until the client cancels; the agent is told to stop.
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + hub_->readerToken());
    v1::LogsRequest req;
    req.set_device_id("api-1");
    req.set_module("web/nginx");
    req.set_follow(true);
    auto stream = stub->StreamLogs(&ctx, req);
    std::string text;
    v1::LogChunk chunk;
    while (text.find("tick 3") == std::string::npos && stream->Read(&chunk)) text += chunk.data();
    EXPECT_NE(text.find("one\n"), std::string::npos);
    EXPECT_EQ(dev_->agent().followers(), 1);
    ctx.TryCancel();
    while (stream->Read(&chunk)) {
    }
    (void)stream->Finish();
    EXPECT_TRUE(dev_->waitFor([](SimAgent& a) { return a.followers() == 0; }, 10s))
        << "the agent was not told to cancel the follow";
  }
  {
    // Unknown module: the agent's NotFound comes back as NOT_FOUND.
    auto ctx = hub_->context(hub_->readerToken());
    v1::LogsRequest req;
    req.set_device_id("api-1");
    req.set_module("nope/nope");
    auto stream = stub->StreamLogs(ctx.get(), req);
    v1::LogChunk chunk;
    while (stream->Read(&chunk)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // REST logs with a percent-encoded module name.
  auto r = get("/api/v1/devices/api-1/modules/web%2Fnginx/logs?tailLines=1", hub_->readerToken());
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, "three\n");
  auto bad = get("/api/v1/devices/api-1/modules/web%2Fnginx/logs?tailLines=x", hub_->readerToken());
  EXPECT_EQ(bad->status, 400);
  {
    // Following a quiet module: the response starts (200, headers) once the agent accepted,
    // before any output; lines arrive as the module writes them.
    dev_->agent().setFollowTicks(false);
    dev_->agent().setLogLines("web/nginx", {});
    SKIFF_ASSERT_OK_AND_ASSIGN(auto tmp, TempDir::create("logs"));
    std::string headers = tmp.file("headers");
    std::string body;
    std::thread reader([&] {
      auto r = runCommand(
          {"curl", "-sN", "--max-time", "8", "-D", headers, "--cacert", hub_->caFile(), "-H",
           "Authorization: Bearer " + hub_->readerToken(),
           hub_->httpsUrl() + "/api/v1/devices/api-1/modules/web%2Fnginx/" + "logs?follow=true"},
          {}, 30s);
      if (r.isOk()) body = r->output;
    });
    EXPECT_TRUE(
        waitUntil(
            [&] { return common::readFile(headers).valueOr("").find("200") != std::string::npos; },
            10s, "response headers of a follow without output")
            .isOk());
    EXPECT_TRUE(dev_->waitFor([](SimAgent& a) { return a.followers() == 1; }, 10s));
    dev_->writeLog("web/nginx", "late line");
    reader.join();
    EXPECT_EQ(body, "late line\n");
    dev_->agent().setFollowTicks(true);
  }

  // Restart needs admin; the agent restarts the module.
  v1::RestartModuleRequest rr;
  rr.set_device_id("api-1");
  rr.set_module("web/nginx");
  v1::RestartModuleResponse rresp;
  EXPECT_EQ(stub->RestartModule(hub_->context(hub_->readerToken()).get(), rr, &rresp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto ok = stub->RestartModule(hub_->context().get(), rr, &rresp);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(dev_->agent().restarts("web/nginx"), 1);

  // A followed stream ends with UNAVAILABLE when its device goes offline (its remaining output
  // is lost with the connection) instead of waiting forever. Found by the e2e tests.
  grpc::ClientContext followCtx;
  followCtx.AddMetadata("authorization", "Bearer " + hub_->readerToken());
  followCtx.set_deadline(std::chrono::system_clock::now() + 30s);
  v1::LogsRequest followReq;
  followReq.set_device_id("api-1");
  followReq.set_module("web/nginx");
  followReq.set_follow(true);
  auto follow = stub->StreamLogs(&followCtx, followReq);
  v1::LogChunk followChunk;
  ASSERT_TRUE(follow->Read(&followChunk));

  // An offline device: UNAVAILABLE at once.
  dev_->stop();
  std::string hubCert = hub_->dataDir() + "/pki/hub-mqtt-client.pem";
  std::string hubKey = hub_->dataDir() + "/pki/hub-mqtt-client.key";
  (void)mosquittoPub(*hub_, hubCert, hubKey, "skiff/v1/devices/api-1/presence",
                     R"({"schema":1,"state":"offline"})");
  ASSERT_TRUE(waitUntil([&] { return !getDevice(*hub_, "api-1").online(); }, 10s).isOk());
  while (follow->Read(&followChunk)) {
  }
  auto ended = follow->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_NE(ended.error_message().find("went offline"), std::string::npos) << ended.error_message();
  auto ctx = hub_->context(hub_->readerToken());
  v1::LogsRequest req;
  req.set_device_id("api-1");
  req.set_module("web/nginx");
  auto stream = stub->StreamLogs(ctx.get(), req);
  v1::LogChunk chunk;
  EXPECT_FALSE(stream->Read(&chunk));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(HubApiTest, FleetStatusMetricsAndDashboard) {
  v1::FleetStatus fs;
  v1::GetFleetStatusRequest req;
  ASSERT_TRUE(hub_->stub()->GetFleetStatus(hub_->context().get(), req, &fs).ok());
  EXPECT_EQ(fs.devices(), 1);
  EXPECT_EQ(fs.online(), 1);
  EXPECT_EQ(fs.cpu_millis(), 4000);
  EXPECT_TRUE(fs.broker_connected());
  EXPECT_EQ(fs.broker_url(), hub_->mqttUrl());
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string metrics, hub_->metrics());
  EXPECT_TRUE(waitUntil([&] { return hub_->metric("skiff_hub_devices") == 1; }, 5s).isOk())
      << metrics;
  EXPECT_NE(metrics.find("skiff_hub_desired_publishes_total{result=\"acked\"}"), std::string::npos);

  auto index = get("/", "");
  ASSERT_TRUE(index.isOk());
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<!doctype html>skiff");
  auto has = [](const HttpResponse& r, const std::string& h) {
    for (const auto& line : r.headers) {
      if (line.find(h) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(*index, "text/html")) << index->headers.size();
  EXPECT_TRUE(has(*index, "no-cache"));
  auto asset = get("/assets/app-1a2b3c.js", "");
  EXPECT_EQ(asset->status, 200);
  EXPECT_TRUE(has(*asset, "text/javascript"));
  EXPECT_TRUE(has(*asset, "immutable"));
  EXPECT_TRUE(has(*asset, "nosniff"));
  HttpRequest head;
  head.method = "HEAD";
  head.url = hub_->httpsUrl() + "/assets/app-1a2b3c.js";
  head.caFile = hub_->caFile();
  auto headResp = httpRequest(head);
  ASSERT_TRUE(headResp.isOk()) << headResp.status();
  EXPECT_EQ(headResp->status, 200);
  EXPECT_TRUE(has(*headResp, "Content-Length: 14")) << "HEAD tells the GET body's length";
  EXPECT_EQ(headResp->body, "");
  EXPECT_EQ(get("/devices/api-1", "")->body, "<!doctype html>skiff") << "client-side route";
  EXPECT_EQ(get("/assets/missing.js", "")->status, 404);
  // Encoded dot segments survive the client's path normalization and must be refused.
  EXPECT_EQ(get("/assets/..%2f..%2fhub.log", "")->status, 400);
}

}  // namespace
}  // namespace skiff::test
