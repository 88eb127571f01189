// Failures on a real device reach `kubectl get pods`: a container that keeps exiting is restarted
// by the real agent with CrashLoopBackOff, and the pod shows that state, the exit code of the
// last termination and a rising restart count; an image the registry does not have shows
// ErrImagePull / ImagePullBackOff. Fleet mode, one real agent on Podman, the real hub and
// control plane. The agent's crash-loop backoff is shortened (1 s doubling to 4 s) so several
// restarts happen within the test.
#include <gtest/gtest.h>

#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(90);

std::map<std::string, std::string> row(System& sys, const std::string& name) {
  for (const auto& r : sys.podRows()) {
    if (r.at("NAME") == name) return r;
  }
  return {};
}

int restarts(const std::string& cell) {  // "3 (5s ago)" → 3
  return cell.empty() ? -1 : std::atoi(cell.c_str());
}

TEST(E2eFailures, CrashLoopAndImagePullErrorsShowInKubectl) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-crash",
                                             .controlPlane = true,
                                             .agentArgs = {"--crash-loop-backoff", "1s",
                                                           "--crash-loop-max-backoff", "4s"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();

  std::string image = sys->registry().imageRef("latest");
  SKIFF_ASSERT_OK(sys->kubectl().ok(
      {"apply", "-f",
       sys->file("crash.yaml", edgePodYaml("crasher", image, "echo crashing; exit 3"))}));
  SKIFF_ASSERT_OK(sys->kubectl().ok(
      {"apply", "-f",
       sys->file("missing.yaml",
                 edgePodYaml("missing", sys->registry().imageRef("no-such-tag"), "sleep 3600"))}));

  // kubectl get pods: CrashLoopBackOff with a rising RESTARTS column.
  std::map<std::string, std::string> r;
  ASSERT_TRUE(eventually(
      [&] {
        r = row(*sys, "crasher");
        return !r.empty() && r.at("STATUS") == "CrashLoopBackOff" &&
               restarts(r.at("RESTARTS")) >= 1;
      },
      kWait))
      << sys->diagnostics();
  int first = restarts(r.at("RESTARTS"));
  EXPECT_EQ(r.at("READY"), "0/1");
  ASSERT_TRUE(eventually(
      [&] {
        r = row(*sys, "crasher");
        return !r.empty() && restarts(r.at("RESTARTS")) >= first + 2;
      },
      kWait))
      << "the restart count does not rise: " << sys->diagnostics();

  // The container status carries the waiting reason and the last termination's exit code.
  SKIFF_ASSERT_OK_AND_ASSIGN(Json p, sys->getJson({"pod", "crasher"}));
  const Json& cs = p["status"]["containerStatuses"][0];
  EXPECT_GE(cs.value("restartCount", 0), first + 2) << cs.dump();
  EXPECT_FALSE(cs.value("ready", true));
  EXPECT_EQ(cs["lastState"]["terminated"].value("exitCode", -1), 3) << cs.dump();
  bool waitingOrRunning = cs["state"].contains("waiting") || cs["state"].contains("running") ||
                          cs["state"].contains("terminated");
  EXPECT_TRUE(waitingOrRunning) << cs.dump();
  Json summary = Json::parse(p["metadata"]["annotations"].value("skiff.io/devices", "{}"));
  EXPECT_EQ(summary.value("failed", -1), 1) << summary.dump();
  // The agent restarts the same container (logs survive restarts): one container in Podman.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ctrs, sys->moduleContainers("pi-a", "crasher/main"));
  EXPECT_EQ(ctrs.size(), 1u);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, sys->kubectl().ok({"logs", "crasher"}));
  EXPECT_NE(logs.find("crashing\ncrashing\n"), std::string::npos) << logs;
  // A BackOff Event on the pod.
  ASSERT_TRUE(eventually([&] {
    auto ev =
        sys->kubectl().run({"get", "events", "--field-selector", "involvedObject.name=crasher"});
    return ev.isOk() && ev->output.find("BackOff") != std::string::npos;
  })) << sys->diagnostics();

  // The missing image: ErrImagePull, then ImagePullBackOff.
  ASSERT_TRUE(eventually(
      [&] {
        auto m = row(*sys, "missing");
        return !m.empty() &&
               (m.at("STATUS") == "ErrImagePull" || m.at("STATUS") == "ImagePullBackOff");
      },
      kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json mp, sys->getJson({"pod", "missing"}));
  EXPECT_EQ(mp["status"].value("phase", ""), "Pending") << mp["status"].dump();
  EXPECT_NE(mp["status"]["containerStatuses"][0]["state"]["waiting"].value("message", ""), "")
      << mp["status"].dump();

  SKIFF_ASSERT_OK(sys->kubectl().ok({"delete", "pod", "crasher", "missing"}, 120s));
  EXPECT_TRUE(sys->containers("pi-a")->empty());
}

}  // namespace
}  // namespace skiff::test
