// Self-test of PodmanFixture: pull busybox from RegistryFixture over the Docker API, run
// `echo hello-skiff` in a host-network container, read its multiplexed logs, delete it.
#include "tests/support/podman.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "tests/support/http.h"
#include "tests/support/registry.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

TEST(DockerStreamTest, DemuxesFrames) {
  std::string data;
  auto frame = [&](char stream, std::string_view payload) {
    data += stream;
    data += std::string(3, '\0');
    uint32_t n = static_cast<uint32_t>(payload.size());
    for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>((n >> shift) & 0xff);
    data += payload;
  };
  frame(1, "hello-");
  frame(2, "oops\n");
  frame(1, "skiff\n");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto streams, demuxDockerStream(data));
  EXPECT_EQ(streams.stdoutData, "hello-skiff\n");
  EXPECT_EQ(streams.stderrData, "oops\n");
  EXPECT_FALSE(demuxDockerStream(data.substr(0, data.size() - 1)).isOk());
}

TEST(PodmanFixtureTest, RunsBusyboxFromRegistryOverDockerApi) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto registry, RegistryFixture::create());
  PodmanOptions opts;
  opts.insecureRegistries = {registry->hostPort()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto podman, PodmanFixture::create(opts));
  const std::string sock = podman->socketPath();
  const std::string api = podman->baseUrl() + "/v1.41";

  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto pull,
      httpPost(api + "/images/create?fromImage=" + registry->hostPort() + "/busybox&tag=latest", "",
               "application/json", sock));
  ASSERT_EQ(pull.status, 200) << pull.body;
  ASSERT_EQ(pull.body.find("\"error\""), std::string::npos) << pull.body;

  nlohmann::json spec = {
      {"Image", registry->imageRef("latest")},
      {"Cmd", {"echo", "hello-skiff"}},
      {"Labels", {{"skiff.test", "support"}}},
      {"HostConfig", {{"NetworkMode", "host"}}},
  };
  const std::string name = "skiff-support-" + std::to_string(::getpid());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto created, httpPost(api + "/containers/create?name=" + name,
                                                    spec.dump(), "application/json", sock));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = nlohmann::json::parse(created.body).at("Id").get<std::string>();

  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto started, httpPost(api + "/containers/" + id + "/start", "", "application/json", sock));
  ASSERT_EQ(started.status, 204) << started.body;
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto waited, httpPost(api + "/containers/" + id + "/wait", "", "application/json", sock));
  ASSERT_EQ(waited.status, 200) << waited.body;
  EXPECT_EQ(nlohmann::json::parse(waited.body).at("StatusCode"), 0) << waited.body;

  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto logs, httpGet(api + "/containers/" + id + "/logs?stdout=1&stderr=1", {}, sock));
  ASSERT_EQ(logs.status, 200) << logs.body;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto streams, demuxDockerStream(logs.body));
  EXPECT_EQ(streams.stdoutData, "hello-skiff\n");
  EXPECT_EQ(streams.stderrData, "");

  HttpRequest del;
  del.method = "DELETE";
  del.url = api + "/containers/" + id;
  del.unixSocket = sock;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto deleted, httpRequest(del));
  EXPECT_EQ(deleted.status, 204) << deleted.body;

  // The CLI sees the same storage through env().
  SKIFF_ASSERT_OK_AND_ASSIGN(auto images,
                             podman->podman({"images", "--format", "{{.Repository}}"}));
  ASSERT_EQ(images.exitCode, 0) << images.output;
  EXPECT_NE(images.output.find(registry->hostPort() + "/busybox"), std::string::npos)
      << images.output;
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto run, podman->podman({"run", "--rm", "--network", "host", registry->imageRef("latest"),
                                "echo", "cli-ok"}));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  EXPECT_EQ(run.output, "cli-ok\n");
}

TEST(PodmanFixtureTest, StopRemovesRunningContainers) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto registry, RegistryFixture::create());
  PodmanOptions opts;
  opts.insecureRegistries = {registry->hostPort()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto podman, PodmanFixture::create(opts));
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto run, podman->podman({"run", "-d", "--network", "host", registry->imageRef("latest"),
                                "sleep", "300"}));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  // Pull progress (stderr) precedes the container id on the last line.
  std::string out = run.output.substr(0, run.output.find_last_not_of('\n') + 1);
  std::string id = out.substr(out.find_last_of('\n') + 1);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto inspect,
                             podman->podman({"inspect", "--format", "{{.State.Pid}}", id}));
  ASSERT_EQ(inspect.exitCode, 0) << inspect.output;
  pid_t pid = std::stoi(inspect.output);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), 0);
  // An exec session has a conmon of its own, outside the service's process tree.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto exec, podman->podman({"exec", "-d", id, "sleep", "300"}));
  ASSERT_EQ(exec.exitCode, 0) << exec.output;
  EXPECT_FALSE(podman->leftoverConmons().empty());
  podman->stop();
  EXPECT_TRUE(podman->leftoverConmons().empty()) << "exec-session conmon processes outlived stop()";
  // The container process is gone (a zombie awaiting PID 1's reaping counts as gone).
  auto gone = [pid] {
    std::string stat = common::readFile("/proc/" + std::to_string(pid) + "/stat").valueOr("");
    return stat.empty() || stat.find(") Z ") != std::string::npos;
  };
  SKIFF_EXPECT_OK(waitUntil(gone, 5s, "container process exit"));
}

}  // namespace
}  // namespace skiff::test
