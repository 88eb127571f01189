// Pure pieces of the agent: image references and credentials, the Docker create body and reply
// parsing, the multiplexed stream demuxer, volume files and labels, procfs/sysfs parsers, the
// work queue, flag validation and certificate renewal timing. (Pod configuration:
// tests/edge_agent/pod/.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "edge_agent/engine/docker_engine.h"
#include "edge_agent/enrollment.h"
#include "edge_agent/options.h"
#include "edge_agent/pod/pod_config.h"
#include "edge_agent/prober.h"
#include "edge_agent/system_info.h"
#include "tests/mocks/container_engine_mock.h"
#include "tests/support/process.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;
namespace protocol = common::protocol;
using common::Json;

TEST(ImageRefTest, SplitsLikeDocker) {
  auto r = engine::parseImageRef("127.0.0.1:5000/busybox:v2");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "127.0.0.1:5000/busybox");
  EXPECT_EQ(r->tag, "v2");
  r = engine::parseImageRef("busybox");
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->tag, "latest");
  r = engine::parseImageRef("localhost/team/app");
  EXPECT_EQ(r->registry, "localhost");
  EXPECT_EQ(r->repository, "localhost/team/app");
  r = engine::parseImageRef("ghcr.io/o/app@sha256:" + std::string(64, 'b'));
  EXPECT_EQ(r->registry, "ghcr.io");
  EXPECT_EQ(r->digest, "sha256:" + std::string(64, 'b'));
  EXPECT_TRUE(r->tag.empty());
  for (const char* bad : {"", "app:", "/app", "app@sha256:12", "a b", "x?y"}) {
    EXPECT_FALSE(engine::parseImageRef(bad).isOk()) << bad;
  }
}

TEST(ImageRefTest, CredentialMatchingHandlesDockerHubAliases) {
  EXPECT_TRUE(engine::credentialMatches("https://index.docker.io/v1/", "docker.io"));
  EXPECT_TRUE(engine::credentialMatches("127.0.0.1:5000", "127.0.0.1:5000"));
  EXPECT_FALSE(engine::credentialMatches("127.0.0.1:5000", "127.0.0.1:5001"));
  std::vector<protocol::RegistryCredential> creds = {{"reg.example.com", "u", "p"},
                                                     {"docker.io", "hub", "x"}};
  EXPECT_EQ(pod::credentialFor("reg.example.com/a/b:1", creds)->username, "u");
  EXPECT_EQ(pod::credentialFor("busybox", creds)->username, "hub");
  EXPECT_FALSE(pod::credentialFor("other.io/x", creds).has_value());
}

TEST(DockerBodyTest, CreateBodyCarriesEverySetting) {
  engine::ContainerConfig c;
  c.name = "skiff-web_app-0123";
  c.image = "busybox";
  c.entrypoint = {"sh", "-c"};
  c.cmd = {"echo hi"};
  c.env = {"A=1"};
  c.workingDir = "/w";
  c.labels = {{"io.skiff.module", "web/app"}};
  c.ports = {{80, "tcp", 8080, "127.0.0.1"}, {53, "udp", 0, ""}};
  c.mounts = {{"/s/files", "/etc/app", true}};
  c.devices = {{"/dev/gpiomem", "/dev/gpiomem"}};
  c.memoryBytes = 1 << 20;
  c.nanoCpus = 250000000;
  c.privileged = true;
  c.stopTimeoutSeconds = 7;
  Json b = engine::dockerCreateBody(c);
  EXPECT_EQ(b["Entrypoint"], Json::array({"sh", "-c"}));
  EXPECT_EQ(b["Cmd"], Json::array({"echo hi"}));
  EXPECT_EQ(b["Env"], Json::array({"A=1"}));
  EXPECT_EQ(b["WorkingDir"], "/w");
  EXPECT_EQ(b["StopTimeout"], 7);
  EXPECT_TRUE(b["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(b["ExposedPorts"].contains("53/udp"));
  const Json& h = b["HostConfig"];
  EXPECT_EQ(h["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(h["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1");
  EXPECT_FALSE(h["PortBindings"].contains("53/udp"));
  EXPECT_EQ(h["Mounts"][0]["ReadOnly"], true);
  EXPECT_EQ(h["Mounts"][0]["Type"], "bind");
  EXPECT_EQ(h["Devices"][0]["PathOnHost"], "/dev/gpiomem");
  EXPECT_EQ(h["Memory"], 1 << 20);
  EXPECT_EQ(h["NanoCpus"], 250000000);
  EXPECT_EQ(h["Privileged"], true);
  EXPECT_EQ(h["RestartPolicy"]["Name"], "no");
  EXPECT_FALSE(h.contains("NetworkMode"));  // the engine's default unless a pod asks
  EXPECT_FALSE(b.contains("User"));

  // A pod member: the sandbox's namespaces, security settings.
  engine::ContainerConfig m = c;
  m.networkMode = "container:infra1";
  m.ipcMode = "container:infra1";
  m.pidMode = "container:infra1";
  m.hostname = "web";
  m.user = "1000:3000";
  m.groupAdd = {2000, 4000};
  m.capAdd = {"NET_ADMIN"};
  m.capDrop = {"ALL"};
  m.readonlyRootfs = true;
  m.noNewPrivileges = true;
  m.seccompUnconfined = true;
  m.mounts = {{"skiff-vol", "/cache", false, /*volume=*/true}};
  Json mb = engine::dockerCreateBody(m);
  const Json& mh = mb["HostConfig"];
  EXPECT_EQ(mh["NetworkMode"], "container:infra1");
  EXPECT_EQ(mh["IpcMode"], "container:infra1");
  EXPECT_EQ(mh["PidMode"], "container:infra1");
  EXPECT_FALSE(mb.contains("Hostname"));  // Docker: it comes with the joined namespace
  EXPECT_EQ(engine::dockerCreateBody(m, /*podman=*/true)["Hostname"], "web");
  EXPECT_EQ(mb["User"], "1000:3000");
  EXPECT_EQ(mh["GroupAdd"], Json::array({"2000", "4000"}));
  EXPECT_EQ(mh["CapAdd"], Json::array({"NET_ADMIN"}));
  EXPECT_EQ(mh["CapDrop"], Json::array({"ALL"}));
  EXPECT_EQ(mh["ReadonlyRootfs"], true);
  EXPECT_EQ(mh["SecurityOpt"], Json::array({"no-new-privileges", "seccomp=unconfined"}));
  EXPECT_EQ(mh["Mounts"][0]["Type"], "volume");
  EXPECT_EQ(mh["Mounts"][0]["Source"], "skiff-vol");
  engine::ContainerConfig infra;
  infra.image = "localhost/skiff-pause:x";
  infra.networkMode = "bridge";
  infra.ipcMode = "shareable";
  infra.hostname = "web";
  infra.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "80"}};
  Json ib = engine::dockerCreateBody(infra);
  EXPECT_EQ(ib["Hostname"], "web");
  EXPECT_EQ(ib["HostConfig"]["Sysctls"]["net.ipv4.ip_unprivileged_port_start"], "80");
  EXPECT_EQ(ib["HostConfig"]["IpcMode"], "shareable");

  // No command override: the image's entrypoint and cmd apply.
  engine::ContainerConfig plain;
  plain.image = "busybox";
  Json pb = engine::dockerCreateBody(plain);
  EXPECT_FALSE(pb.contains("Entrypoint"));
  EXPECT_FALSE(pb.contains("Cmd"));
}

TEST(DockerBodyTest, ParsesInspectAndListDefensively) {
  Json inspect = {{"Id", "abc"},
                  {"Name", "/skiff-x"},
                  {"Image", std::string(64, 'f')},
                  {"Config", {{"Image", "busybox"}, {"Labels", {{"k", "v"}, {"n", 5}}}}},
                  {"State",
                   {{"Status", "exited"},
                    {"ExitCode", 137},
                    {"OOMKilled", true},
                    {"StartedAt", "2026-12-01T10:00:00.123456789Z"},
                    {"FinishedAt", "0001-01-01T00:00:00Z"}}},
                  {"NetworkSettings", {{"Networks", {{"podman", {{"IPAddress", "10.88.0.5"}}}}}}}};
  auto c = engine::parseContainerJson(inspect, false);
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->name, "skiff-x");
  EXPECT_EQ(c->imageId, "sha256:" + std::string(64, 'f'));
  EXPECT_EQ(c->status, engine::ContainerStatus::kExited);
  EXPECT_EQ(c->exitCode, 137);
  EXPECT_TRUE(c->oomKilled);
  EXPECT_TRUE(c->startedAt.has_value());
  EXPECT_FALSE(c->finishedAt.has_value());
  EXPECT_EQ(c->labels.size(), 1u);
  EXPECT_EQ(c->ipAddress, "10.88.0.5");
  // Wrong types never throw.
  Json weird = {{"Id", "x"}, {"State", "nope"}, {"Config", 3}, {"Names", {1, 2}}};
  EXPECT_TRUE(engine::parseContainerJson(weird, false).isOk());
  EXPECT_TRUE(engine::parseContainerJson(weird, true).isOk());
  EXPECT_FALSE(engine::parseContainerJson(Json{{"Names", {"/a"}}}, true).isOk());
  EXPECT_FALSE(engine::parseContainerJson(Json::array(), true).isOk());
}

TEST(StreamDemuxerTest, SplitsFramesAcrossChunks) {
  std::string out;
  std::string err;
  engine::StreamDemuxer d([&](std::string_view data, bool isErr) {
    (isErr ? err : out).append(data);
    return true;
  });
  auto frame = [](char type, const std::string& payload) {
    std::string f(8, '\0');
    f[0] = type;
    f[7] = static_cast<char>(payload.size());
    return f + payload;
  };
  std::string all = frame(1, "hello ") + frame(2, "oops") + frame(1, "world");
  for (std::size_t i = 0; i < all.size(); i += 3) {
    ASSERT_TRUE(d.feed(std::string_view(all).substr(i, 3)).isOk());
  }
  EXPECT_EQ(out, "hello world");
  EXPECT_EQ(err, "oops");
  engine::StreamDemuxer bad([](std::string_view, bool) { return true; });
  EXPECT_TRUE(bad.feed(std::string("\x01\x05\x00\x00\x00\x00\x00\x01x", 9)).status().code() ==
              common::StatusCode::kInvalidArgument);
  std::string raw;
  engine::StreamDemuxer tty([&](std::string_view data, bool) {
    raw.append(data);
    return true;
  });
  ASSERT_TRUE(tty.feed("plain text\n").isOk());
  EXPECT_EQ(raw, "plain text\n");
}

TEST(SystemInfoTest, ParsesProcAndSys) {
  EXPECT_EQ(goArch("x86_64"), "amd64");
  EXPECT_EQ(goArch("aarch64"), "arm64");
  EXPECT_EQ(goArch("armv7l"), "arm");
  EXPECT_EQ(goArch("armv6l"), "arm");
  auto t = parseProcStat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->total, 1000u);
  EXPECT_EQ(t->busy, 150u);
  EXPECT_FALSE(parseProcStat("intr 1 2\n").has_value());
  auto m = parseMeminfo("MemTotal:        1000 kB\nMemFree: 10 kB\nMemAvailable:     250 kB\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totalBytes, 1024000);
  EXPECT_EQ(m->availableBytes, 256000);
  EXPECT_EQ(parseOsRelease("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(*parseThermal("48312\n"), 48.312);
  EXPECT_EQ(*parseThermal("48\n"), 48);
  EXPECT_FALSE(parseThermal("hot").has_value());
  EXPECT_DOUBLE_EQ(parseLoadAvg("0.42 0.30 0.20 1/100 1234\n"), 0.42);
  EXPECT_EQ(
      parseDefaultRouteInterface("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
                                 "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
                                 "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\n"),
      "wlan0");
  EXPECT_EQ(parseDefaultRouteInterface("Iface\tDestination\n"), "");
  EXPECT_FALSE(primaryAddress().empty());
}

TEST(SystemInfoTest, MetricsFromAFakeRoot) {
  auto root = test::TempDir::create("fake-root");
  ASSERT_TRUE(root.isOk());
  auto put = [&](const std::string& p, const std::string& c) {
    ASSERT_TRUE(common::makeDirs(std::filesystem::path(root->path() + p).parent_path()).isOk());
    ASSERT_TRUE(common::writeFileAtomic(root->path() + p, c).isOk());
  };
  put("/proc/stat", "cpu  100 0 0 900 0 0 0 0\n");
  put("/proc/meminfo", "MemTotal: 2000 kB\nMemAvailable: 500 kB\n");
  put("/proc/loadavg", "1.5 1 1 1/1 1\n");
  put("/sys/class/thermal/thermal_zone0/temp", "51000\n");
  put("/sys/class/thermal/thermal_zone1/temp", "47000\n");
  CpuSampler cpu(root->path());
  auto m1 = collectHostMetrics(cpu, root->path(), root->path());
  EXPECT_EQ(m1.cpuPercent, 0);
  put("/proc/stat", "cpu  200 0 0 1800 0 0 0 0\n");
  auto m2 = collectHostMetrics(cpu, root->path(), root->path());
  EXPECT_NEAR(m2.cpuPercent, 10.0, 0.01);
  EXPECT_EQ(m2.memoryTotalBytes, 2048000);
  EXPECT_EQ(m2.memoryUsedBytes, 1536000);
  EXPECT_DOUBLE_EQ(m2.load1, 1.5);
  ASSERT_TRUE(m2.temperatureCelsius.has_value());
  EXPECT_DOUBLE_EQ(*m2.temperatureCelsius, 51.0);
  EXPECT_GT(m2.diskTotalBytes, 0);
  auto noThermal = test::TempDir::create("no-thermal");
  CpuSampler cpu2(noThermal->path());
  EXPECT_FALSE(collectHostMetrics(cpu2, noThermal->path(), noThermal->path())
                   .temperatureCelsius.has_value());
  auto facts = collectFacts(root->path());
  EXPECT_EQ(facts.arch, "amd64");
  EXPECT_GT(facts.cpus, 0);
  EXPECT_FALSE(facts.kernel.empty());
}

TEST(OptionsTest, ValidationNamesTheFlag) {
  Options o;
  o.stateDir = "/var/lib/skiff-agent";
  EXPECT_TRUE(validate(o).isOk());
  Options rel = o;
  rel.stateDir = "state";
  EXPECT_NE(validate(rel).message().find("--state-dir"), std::string::npos);
  Options eng = o;
  eng.engineSocket = "docker.sock";
  EXPECT_NE(validate(eng).message().find("--engine"), std::string::npos);
  Options mq = o;
  mq.mqttUrl = "http://broker";
  EXPECT_NE(validate(mq).message().find("--mqtt-url"), std::string::npos);
  Options bo = o;
  bo.crashLoopBackoff = 10min;
  EXPECT_NE(validate(bo).message().find("--crash-loop-backoff"), std::string::npos);
  Options en = o;
  en.command = "enroll";
  en.hub = "http://hub";
  en.token = "t";
  en.insecureSkipTlsVerifyForEnroll = true;
  EXPECT_NE(validate(en).message().find("--hub"), std::string::npos);
  en.hub = "https://hub:8443";
  EXPECT_TRUE(validate(en).isOk());
  en.caSha256 = "ab";
  EXPECT_NE(validate(en).message().find("exactly one"), std::string::npos);
  en.insecureSkipTlsVerifyForEnroll = false;
  EXPECT_NE(validate(en).message().find("--ca-sha256"), std::string::npos);
  en.caSha256 = "SHA256:" + std::string(32, 'A') + ":" + std::string(32, 'b');
  EXPECT_TRUE(validate(en).isOk()) << validate(en);
  EXPECT_EQ(*normalizeFingerprint(en.caSha256), std::string(32, 'a') + std::string(32, 'b'));
  en.caSha256.clear();
  en.caFile = "/nonexistent/ca.pem";
  EXPECT_NE(validate(en).message().find("--ca-file"), std::string::npos);
}

TEST(ProbeTest, TcpSocketAndExecProbes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  ::testing::NiceMock<test::MockContainerIo> io;
  protocol::Probe tcp;
  tcp.kind = protocol::Probe::Kind::kTcpSocket;
  tcp.port = 80;
  // No host: a published port is probed on the device's loopback.
  ProbeTarget target{"cid", "", {{80, port, "TCP", ""}}};
  EXPECT_TRUE(runProbe(io, tcp, target).isOk());
  ::close(fd);
  auto closed = runProbe(io, tcp, target);
  EXPECT_FALSE(closed.isOk());
  EXPECT_NE(closed.message().find(std::to_string(port)), std::string::npos) << closed;

  protocol::Probe exec;
  exec.kind = protocol::Probe::Kind::kExec;
  exec.command = {"cat", "/tmp/healthy"};
  exec.timeoutSeconds = 2;
  EXPECT_CALL(io, exec("cid", exec.command, std::chrono::milliseconds(2000)))
      .WillOnce(::testing::Return(engine::ExecResult{0, ""}))
      .WillOnce(::testing::Return(engine::ExecResult{1, "No such file"}))
      .WillOnce(::testing::Return(common::deadlineExceeded("exec timed out")));
  EXPECT_TRUE(runProbe(io, exec, target).isOk());
  auto failed = runProbe(io, exec, target);
  EXPECT_NE(failed.message().find("exited with 1: No such file"), std::string::npos) << failed;
  EXPECT_EQ(runProbe(io, exec, target).code(), common::StatusCode::kDeadlineExceeded);
}

TEST(RenewalTest, DueWhenLessThanAThirdRemains) {
  auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  auto end = t0 + 90 * 24h;
  EXPECT_FALSE(renewalDue(t0, end, t0 + 59 * 24h));
  EXPECT_TRUE(renewalDue(t0, end, t0 + 61 * 24h));
  EXPECT_TRUE(renewalDue(t0, end, end + 1h));
}

}  // namespace
}  // namespace skiff::edge_agent
