// The cross-built arm64 skiff-agent under qemu-aarch64-static (no -L: the arm64 loader and
// libraries are installed multi-arch) against the same Mosquitto (TLS + ACL), Podman and
// registry: enroll → desired → running → reported. deploy/test.sh builds the binary first and
// sets SKIFF_REQUIRE_ARM64=1, so in CI a missing binary fails instead of skipping.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/edge_agent/agent_harness.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

TEST(AgentArm64Test, DesiredRunningReportedUnderQemu) {
  if (AgentProcess::arm64Binary().empty()) {
    const char* require = std::getenv("SKIFF_REQUIRE_ARM64");
    if (require != nullptr && std::string(require) == "1") {
      FAIL() << "arm64 agent missing at " << SKIFF_AGENT_ARM64_BIN
             << " (build it with cross/build-agent.sh aarch64)";
    }
    GTEST_SKIP() << "arm64 agent not built (cross/build-agent.sh aarch64)";
  }
  SKIFF_ASSERT_OK(findProgram("qemu-aarch64-static").status());
  SKIFF_ASSERT_OK_AND_ASSIGN(AgentPeers peers, AgentPeers::create());
  SKIFF_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::create("agent-arm64"));
  const std::string device = "pi-arm64";
  // The infra image must match the engine's architecture (here the host's x86-64 Podman; on a
  // Pi both are arm64): the host's skiff-pause.
  AgentProcess agent(dir.file("state"), peers.podman->socketPath(), dir.path(),
                     AgentRunOptions{{"--pause-binary", AgentProcess::pauseBinary()},
                                     /*arm64=*/true});
  // Enrollment itself runs on arm64: key generation, CSR, HTTPS with libcurl.
  SKIFF_ASSERT_OK(enrollDevice(agent, *peers.hub, device));
  SKIFF_ASSERT_OK(agent.start());
  SKIFF_ASSERT_OK(peers.hub->waitPresence(device, true, 90s));

  auto m = busyboxModule(*peers.registry, "smoke/app", {"echo $WHO > /tmp/who; sleep 3600"});
  m.containers[0].env = {{"WHO", "arm64-agent"}};
  SKIFF_ASSERT_OK(peers.hub->publishDesired(desiredDoc(device, 1, {m})));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto rep, peers.hub->waitReported(
                                           device,
                                           [](const protocol::Reported& r) {
                                             const auto* s = moduleIn(r, "smoke/app");
                                             return r.appliedVersion == 1 && s != nullptr &&
                                                    s->state == protocol::ModuleState::kRunning;
                                           },
                                           180s, "arm64 agent running the module"));
  EXPECT_EQ(rep.facts.arch, "arm64");
  EXPECT_EQ(rep.facts.engine, "podman 4.3.1");
  const std::string id = moduleIn(rep, "smoke/app")->containerId;
  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        auto r = peers.podman->podman({"exec", id, "cat", "/tmp/who"});
        return r.isOk() && r->output == "arm64-agent\n";
      },
      30s, "env seen inside the container"));
  EXPECT_EQ(agent.stop(), 0);
  SKIFF_EXPECT_OK(peers.hub->waitPresence(device, false, 30s));
  EXPECT_EQ(containerState(*peers.podman, id).valueOr(""), "running");
}

}  // namespace
}  // namespace skiff::test
