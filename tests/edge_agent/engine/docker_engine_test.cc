// The Docker Engine API adapter's pure pieces (edge_agent/engine/docker_engine.h): image references
// and registry credentials, the create body, reply parsing, the multiplexed stream demuxer.
#include "edge_agent/engine/docker_engine.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "edge_agent/pod/pod_config.h"

namespace skiff::edge_agent {
namespace {

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

}  // namespace
}  // namespace skiff::edge_agent
