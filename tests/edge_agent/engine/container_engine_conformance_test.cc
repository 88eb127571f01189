// Conformance suite every ContainerEngine/ContainerIo implementation must pass, typed over the
// implementations. Today: DockerEngine against Podman's Docker-compatible API (the fixture), with
// images from a real registry. A CRI implementation adds one Factory here.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "common/fs.h"
#include "edge_agent/engine/docker_engine.h"
#include "edge_agent/pod/pause_image.h"
#include "tests/support/podman.h"
#include "tests/support/registry.h"
#include "tests/support/status_assert.h"

namespace skiff::edge_agent::engine {
namespace {

using namespace std::chrono_literals;
using common::StatusCode;
using common::protocol::PullPolicy;

// Starts the engine under test and hands out both interfaces.
struct DockerOverPodman {
  static constexpr const char* kName = "docker-api/podman";
  std::unique_ptr<test::RegistryFixture> registry;
  std::unique_ptr<test::PodmanFixture> podman;
  std::unique_ptr<DockerEngine> engine;
  common::Status setUp() {
    SKIFF_ASSIGN_OR_RETURN(registry, test::RegistryFixture::create());
    test::PodmanOptions po;
    po.insecureRegistries = {registry->hostPort()};
    SKIFF_ASSIGN_OR_RETURN(podman, test::PodmanFixture::create(po));
    engine = std::make_unique<DockerEngine>(DockerEngineOptions{podman->socketPath()});
    return common::Status::ok();
  }
  ContainerEngine& lifecycle() { return *engine; }
  ContainerIo& io() { return *engine; }
  EngineResources& resources() { return *engine; }
  std::string podNetwork() { return podman->networkName(); }
  std::string image(const std::string& tag = "latest") { return registry->imageRef(tag); }
};

template <typename Factory>
class ContainerEngineConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(f_.setUp().isOk()); }

  ContainerConfig config(const std::string& name, std::vector<std::string> script) {
    ContainerConfig c;
    c.name = name;
    c.image = f_.image();
    c.entrypoint = {"sh", "-c"};
    c.cmd = std::move(script);
    c.labels = {{"io.skiff.agent", "conformance"}, {"io.skiff.module", name}};
    c.stopTimeoutSeconds = 1;
    return c;
  }

  // Creates and starts; returns the id.
  std::string run(const ContainerConfig& c) {
    auto img = f_.lifecycle().ensureImage(c.image, PullPolicy::kIfNotPresent, nullptr);
    EXPECT_TRUE(img.isOk()) << img.status();
    auto id = f_.lifecycle().create(c);
    EXPECT_TRUE(id.isOk()) << id.status();
    if (!id.isOk()) return "";
    EXPECT_TRUE(f_.lifecycle().start(*id).isOk());
    return *id;
  }

  ContainerStatus waitStatus(const std::string& id, ContainerStatus want,
                             std::chrono::milliseconds timeout = 30s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    ContainerStatus last = ContainerStatus::kUnknown;
    while (std::chrono::steady_clock::now() < until) {
      auto i = f_.lifecycle().inspect(id);
      if (i.isOk()) last = i->status;
      if (last == want) return last;
      std::this_thread::sleep_for(50ms);
    }
    return last;
  }

  Factory f_;
};

using Implementations = ::testing::Types<DockerOverPodman>;
TYPED_TEST_SUITE(ContainerEngineConformanceTest, Implementations);

TYPED_TEST(ContainerEngineConformanceTest, PullPoliciesAndBadImages) {
  auto& e = this->f_.lifecycle();
  // Never: absent image is NotFound, nothing is pulled.
  EXPECT_EQ(e.ensureImage(this->f_.image(), PullPolicy::kNever, nullptr).status().code(),
            StatusCode::kNotFound);
  auto id = e.ensureImage(this->f_.image(), PullPolicy::kIfNotPresent, nullptr);
  ASSERT_TRUE(id.isOk()) << id.status();
  EXPECT_TRUE(id->id.starts_with("sha256:")) << id->id;
  EXPECT_EQ(e.ensureImage(this->f_.image(), PullPolicy::kNever, nullptr)->id, id->id);
  EXPECT_EQ(e.ensureImage(this->f_.image(), PullPolicy::kAlways, nullptr)->id, id->id);
  // A tag the registry does not have, and a malformed reference.
  auto missing = e.ensureImage(this->f_.image("nosuchtag"), PullPolicy::kIfNotPresent, nullptr);
  EXPECT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("nosuchtag"), std::string::npos) << missing.status();
  EXPECT_EQ(e.ensureImage("bad ref", PullPolicy::kIfNotPresent, nullptr).status().code(),
            StatusCode::kInvalidArgument);
  // Credentials are passed along (this registry ignores them; the pull must still work).
  RegistryAuth auth{this->f_.registry->hostPort(), "user", "secret"};
  SKIFF_EXPECT_OK(e.ensureImage(this->f_.image(), PullPolicy::kAlways, &auth));
}

TYPED_TEST(ContainerEngineConformanceTest, LifecycleIsIdempotentAndLabelled) {
  auto& e = this->f_.lifecycle();
  auto c = this->config("conf-life", {"echo started; sleep 3600"});
  c.env = {"X=1"};
  std::string id = this->run(c);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(this->waitStatus(id, ContainerStatus::kRunning), ContainerStatus::kRunning);
  SKIFF_EXPECT_OK(e.start(id));  // already running
  auto info = e.inspect(id);
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->name, "conf-life");
  EXPECT_EQ(info->labels.at("io.skiff.module"), "conf-life");
  EXPECT_TRUE(info->startedAt.has_value());
  EXPECT_TRUE(info->imageId.starts_with("sha256:"));
  // Name conflicts are Conflict.
  EXPECT_EQ(e.create(c).status().code(), StatusCode::kConflict);
  // list filters by every label given.
  auto mine = e.list({{"io.skiff.agent", "conformance"}, {"io.skiff.module", "conf-life"}});
  ASSERT_TRUE(mine.isOk());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ(mine->front().id, id);
  EXPECT_EQ(mine->front().status, ContainerStatus::kRunning);
  EXPECT_TRUE(e.list({{"io.skiff.agent", "someone-else"}})->empty());

  SKIFF_EXPECT_OK(e.stop(id, 1s));
  SKIFF_EXPECT_OK(e.stop(id, 1s));  // already stopped
  info = e.inspect(id);
  EXPECT_EQ(info->status, ContainerStatus::kExited);
  EXPECT_TRUE(info->finishedAt.has_value());
  SKIFF_EXPECT_OK(e.start(id));  // exited containers start again (agent restarts)
  EXPECT_EQ(this->waitStatus(id, ContainerStatus::kRunning), ContainerStatus::kRunning);
  SKIFF_EXPECT_OK(e.remove(id));  // force-removes a running one
  SKIFF_EXPECT_OK(e.remove(id));  // gone already
  EXPECT_EQ(e.inspect(id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.start("no-such-container").code(), StatusCode::kNotFound);
}

TYPED_TEST(ContainerEngineConformanceTest, ExitCodesAndEngineRestartPolicyNo) {
  auto& e = this->f_.lifecycle();
  std::string id = this->run(this->config("conf-exit", {"exit 7"}));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(this->waitStatus(id, ContainerStatus::kExited), ContainerStatus::kExited);
  std::this_thread::sleep_for(1s);
  auto info = e.inspect(id);
  ASSERT_TRUE(info.isOk());
  EXPECT_EQ(info->status, ContainerStatus::kExited);  // the engine did not restart it
  EXPECT_EQ(info->exitCode, 7);
  EXPECT_FALSE(info->oomKilled);
}

TYPED_TEST(ContainerEngineConformanceTest, LogsTailSinceFollowAndExec) {
  auto& io = this->f_.io();
  std::string id = this->run(this->config(
      "conf-logs", {"echo one; echo two >&2; echo three; sleep 1; echo four; sleep 3600"}));
  ASSERT_FALSE(id.empty());
  std::string out;
  std::string err;
  auto sink = [&](std::string_view d, bool isErr) {
    (isErr ? err : out).append(d);
    return true;
  };
  SKIFF_ASSERT_OK(test::waitUntil(
      [&] {
        out.clear();
        err.clear();
        LogOptions o;
        return io.logs(id, o, sink, {}).isOk() && out.find("four") != std::string::npos;
      },
      30s, "all log lines"));
  EXPECT_EQ(out, "one\nthree\nfour\n");
  EXPECT_EQ(err, "two\n");
  out.clear();
  err.clear();
  LogOptions tail;
  tail.tailLines = 1;
  SKIFF_EXPECT_OK(io.logs(id, tail, sink, {}));
  EXPECT_EQ(out + err, "four\n");
  LogOptions future;
  future.since = std::chrono::system_clock::now() + 1h;
  out.clear();
  err.clear();
  SKIFF_EXPECT_OK(io.logs(id, future, sink, {}));
  EXPECT_EQ(out + err, "");

  // Following stops when cancelled.
  LogOptions follow;
  follow.follow = true;
  std::atomic<bool> stop{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(500ms);
    stop = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  SKIFF_EXPECT_OK(io.logs(
      id, follow, [](std::string_view, bool) { return true; }, [&] { return stop.load(); }));
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);

  auto ok = io.exec(id, {"sh", "-c", "echo hi; exit 0"}, 10s);
  ASSERT_TRUE(ok.isOk()) << ok.status();
  EXPECT_EQ(ok->exitCode, 0);
  EXPECT_EQ(ok->output, "hi\n");
  auto fail = io.exec(id, {"sh", "-c", "echo no >&2; exit 4"}, 10s);
  ASSERT_TRUE(fail.isOk());
  EXPECT_EQ(fail->exitCode, 4);
  EXPECT_EQ(fail->output, "no\n");
  EXPECT_EQ(io.exec(id, {"sleep", "30"}, 1s).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(io.exec("no-such-container", {"true"}, 1s).isOk());
}

TYPED_TEST(ContainerEngineConformanceTest, StatsAndVersion) {
  auto& io = this->f_.io();
  auto v = io.version();
  ASSERT_TRUE(v.isOk()) << v.status();
  EXPECT_FALSE(v->name.empty());
  EXPECT_FALSE(v->version.empty());
  EXPECT_FALSE(v->apiVersion.empty());
  std::string id = this->run(this->config("conf-stats", {"while true; do :; done"}));
  ASSERT_FALSE(id.empty());
  auto s1 = io.stats(id);
  ASSERT_TRUE(s1.isOk()) << s1.status();
  std::this_thread::sleep_for(1s);
  auto s2 = io.stats(id);
  ASSERT_TRUE(s2.isOk());
  EXPECT_GT(s2->cpuTotalNanos, s1->cpuTotalNanos);  // a busy loop burns CPU
  EXPECT_GT(s2->memoryBytes, 0);
  EXPECT_FALSE(io.stats("no-such-container").isOk());
}

// What a pod sandbox is built from: an image imported from a tarball (the pause program), an
// infra container on the pod network whose network and IPC namespaces members join, and engine
// volumes (tmpfs) shared by the members, listed by label, refused removal while in use.
TYPED_TEST(ContainerEngineConformanceTest, PodSandboxBuildingBlocks) {
  auto& e = this->f_.lifecycle();
  auto& res = this->f_.resources();
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string pause, common::readFile(SKIFF_PAUSE_BIN));
  std::string tar = pod::ustarWithOneFile("pause", pause, 0755);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string imageId, res.importImage("localhost/conf-pause:1", tar));
  EXPECT_FALSE(imageId.empty());
  // Importing again moves the tag (engines stamp each import with its own creation time).
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string again, res.importImage("localhost/conf-pause:1", tar));
  auto present = e.ensureImage("localhost/conf-pause:1", PullPolicy::kNever, nullptr);
  ASSERT_TRUE(present.isOk()) << present.status();
  EXPECT_EQ(present->id, again);

  ContainerConfig infra;
  infra.name = "conf-infra";
  infra.image = "localhost/conf-pause:1";
  infra.entrypoint = {"/pause"};
  infra.labels = {{"io.skiff.agent", "conformance"}};
  infra.networkMode = this->f_.podNetwork();
  infra.ipcMode = "shareable";
  infra.hostname = "conf-pod";
  infra.stopTimeoutSeconds = 1;
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string infraId, e.create(infra));
  SKIFF_ASSERT_OK(e.start(infraId));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto infraInfo, e.inspect(infraId));
  EXPECT_EQ(infraInfo.status, ContainerStatus::kRunning);
  ASSERT_FALSE(infraInfo.ipAddress.empty());
  EXPECT_GT(infraInfo.pid, 0);

  std::map<std::string, std::string> labels = {{"io.skiff.agent", "conformance"},
                                               {"io.skiff.pod", "conf-pod"}};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto vol, res.createVolume({"conf-mem", labels, true, 8 << 20}));
  EXPECT_EQ(vol.name, "conf-mem");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto same, res.createVolume({"conf-mem", labels, true, 8 << 20}));
  EXPECT_EQ(same.name, "conf-mem");  // the existing one
  SKIFF_ASSERT_OK_AND_ASSIGN(auto listed, res.listVolumes(labels));
  EXPECT_EQ(listed, std::vector<std::string>{"conf-mem"});
  SKIFF_ASSERT_OK_AND_ASSIGN(auto none, res.listVolumes({{"io.skiff.pod", "other"}}));
  EXPECT_TRUE(none.empty());

  auto member = [&](const std::string& name, const std::string& script) {
    ContainerConfig c = this->config(name, {script});
    c.networkMode = "container:" + infraId;
    c.ipcMode = "container:" + infraId;
    c.mounts = {{"conf-mem", "/shared", false, true}};
    return this->run(c);
  };
  std::string server =
      member("conf-server", "echo shared > /shared/f; httpd -f -p 7070 -h /shared");
  std::string client = member("conf-client", "sleep 3600");
  ASSERT_FALSE(server.empty());
  ASSERT_FALSE(client.empty());
  auto& io = this->f_.io();
  // One network namespace: the member has the sandbox's address and reaches its neighbour on
  // 127.0.0.1; one volume: what one member wrote, the other reads (from tmpfs).
  SKIFF_ASSERT_OK(test::waitUntil(
      [&] {
        auto r = io.exec(client, {"wget", "-q", "-O-", "http://127.0.0.1:7070/f"}, 5s);
        return r.isOk() && r->output == "shared\n";
      },
      30s, "the neighbour on 127.0.0.1"));
  auto addr = io.exec(client, {"sh", "-c", "ip -4 -o addr show eth0"}, 5s);
  ASSERT_TRUE(addr.isOk());
  EXPECT_NE(addr->output.find("inet " + infraInfo.ipAddress + "/"), std::string::npos)
      << addr->output;
  auto shared = io.exec(client, {"sh", "-c", "cat /shared/f; grep ' /shared ' /proc/mounts"}, 5s);
  ASSERT_TRUE(shared.isOk());
  EXPECT_TRUE(shared->output.starts_with("shared\n")) << shared->output;
  EXPECT_NE(shared->output.find("tmpfs"), std::string::npos) << shared->output;

  // In use: refused; once the members are gone, removed; absent: Ok.
  EXPECT_FALSE(res.removeVolume("conf-mem").isOk());
  for (const auto& id : {server, client, infraId}) {
    SKIFF_EXPECT_OK(e.stop(id, 1s));
    SKIFF_EXPECT_OK(e.remove(id));
  }
  SKIFF_EXPECT_OK(res.removeVolume("conf-mem"));
  SKIFF_EXPECT_OK(res.removeVolume("conf-mem"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto after, res.listVolumes(labels));
  EXPECT_TRUE(after.empty());
}

TYPED_TEST(ContainerEngineConformanceTest, UnreachableEngineIsUnavailable) {
  DockerEngine gone(DockerEngineOptions{"/nonexistent/engine.sock"});
  EXPECT_EQ(gone.list({}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(gone.version().status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace skiff::edge_agent::engine
