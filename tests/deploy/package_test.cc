// The skiff-server .deb as installed: deploy/package.sh builds it from this build tree; the test
// checks its metadata and contents, verifies every systemd unit with systemd-analyze, and runs
// the packaged binaries with the packaged /etc/skiff configuration files (data dirs and ports
// overridden on the command line, as an operator would): control plane, hub init + run serving
// the packaged dashboard, and the virtual node registering its Node with them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "common/fs.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

class ServerPackageTest : public testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("package");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(*dir));
    auto built = runCommand(
        {SKIFF_SOURCE_DIR "/deploy/package.sh", "server"},
        {{"SKIFF_BUILD_DIR", SKIFF_BUILD_DIR}, {"SKIFF_PACKAGE_OUT", dir_->file("out")}}, 600s);
    ASSERT_TRUE(built.isOk()) << built.status();
    ASSERT_EQ(built->exitCode, 0) << built->output;
    for (const auto& e : std::filesystem::directory_iterator(dir_->file("out"))) {
      if (e.path().extension() == ".deb") deb_ = e.path().string();
    }
    ASSERT_FALSE(deb_.empty()) << built->output;
    root_ = dir_->file("root");
    auto x = runCommand({"dpkg-deb", "-x", deb_, root_});
    ASSERT_TRUE(x.isOk() && x->exitCode == 0) << (x.isOk() ? x->output : x.status().toString());
  }

  std::optional<TempDir> dir_;
  std::string deb_;
  std::string root_;
};

TEST_F(ServerPackageTest, InstalledLayoutUnitsAndConfigsWork) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string info, runCommandOk({"dpkg-deb", "--info", deb_}));
  EXPECT_NE(info.find("Package: skiff-server"), std::string::npos) << info;
  EXPECT_NE(info.find("Architecture: amd64"), std::string::npos);
  EXPECT_NE(info.find("mosquitto (>= 2.0)"), std::string::npos);
  EXPECT_NE(info.find("libgrpc++"), std::string::npos) << "shlibdeps must list the libraries";
  for (const char* f :
       {"usr/bin/skiff-control-plane", "usr/bin/skiff-hub", "usr/bin/skiffctl",
        "usr/bin/skiff-virtual-node", "usr/share/skiff/dashboard/index.html",
        "etc/skiff/control-plane.toml", "etc/skiff/hub.toml", "etc/skiff/virtual-node.toml",
        "lib/systemd/system/skiff-control-plane.service",
        "lib/systemd/system/skiff-hub-init.service", "lib/systemd/system/skiff-broker.service",
        "lib/systemd/system/skiff-hub.service", "lib/systemd/system/skiff-virtual-node.service",
        "usr/share/doc/skiff-server/README.md"}) {
    EXPECT_TRUE(std::filesystem::exists(root_ + "/" + f)) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(root_ + "/usr/bin/skiff-agent"))
      << "the agent has its own package";
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string conffiles,
                             runCommandOk({"dpkg-deb", "-I", deb_, "conffiles"}));
  EXPECT_NE(conffiles.find("/etc/skiff/hub.toml"), std::string::npos) << conffiles;

  // Units: verified by systemd with ExecStart paths pointing into the extracted package.
  std::string units = dir_->file("units");
  std::filesystem::create_directories(units);
  std::vector<std::string> verify = {"systemd-analyze", "verify"};
  for (const auto& e : std::filesystem::directory_iterator(root_ + "/lib/systemd/system")) {
    auto text = common::readFile(e.path().string());
    ASSERT_TRUE(text.isOk());
    std::string t = std::regex_replace(*text, std::regex("/usr/bin/"), root_ + "/usr/bin/");
    std::string out = units + "/" + e.path().filename().string();
    SKIFF_ASSERT_OK(common::writeFileAtomic(out, t));
    verify.push_back(out);
  }
  auto v = runCommand(verify);
  ASSERT_TRUE(v.isOk());
  // Only complaints about the unrelated host (no systemd running here) would be tolerable;
  // there must be none about our units.
  EXPECT_EQ(v->output.find("skiff-"), std::string::npos) << v->output;

  // The packaged binaries with the packaged configuration files.
  auto port = [] { return std::to_string(freeLoopbackPort().value()); };
  std::string etc = root_ + "/etc/skiff/";
  std::string cpData = dir_->file("cp");
  std::string cpPort = port();
  SubprocessOptions cp;
  cp.argv = {root_ + "/usr/bin/skiff-control-plane",
             "--config",
             etc + "control-plane.toml",
             "--data-dir",
             cpData,
             "--listen",
             "127.0.0.1:" + cpPort};
  cp.logFile = dir_->file("cp.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess cpProc, Subprocess::start(cp));
  SKIFF_ASSERT_OK(waitForReady(
      cpProc,
      [&] {
        auto r = runCommand({"curl", "-fsk", "https://127.0.0.1:" + cpPort + "/healthz"}, {}, 5s);
        return r.isOk() && r->exitCode == 0;
      },
      60s, "packaged control plane"));

  std::string hubData = dir_->file("hub");
  std::string grpcPort = port(), httpPort = port(), mqttPort = port();
  SKIFF_ASSERT_OK(
      runCommandOk({root_ + "/usr/bin/skiff-hub", "--config", etc + "hub.toml", "--data-dir",
                    hubData, "init", "--mqtt-listen", "127.0.0.1:" + mqttPort})
          .status());
  SubprocessOptions hub;
  hub.argv = {root_ + "/usr/bin/skiff-hub",
              "--config",
              etc + "hub.toml",
              "--data-dir",
              hubData,
              "--grpc-listen",
              "127.0.0.1:" + grpcPort,
              "--http-listen",
              "127.0.0.1:" + httpPort,
              "--mqtt",
              "mqtts://127.0.0.1:" + mqttPort,
              "--dashboard-dir",
              root_ + "/usr/share/skiff/dashboard",
              "run"};
  hub.logFile = dir_->file("hub.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess hubProc, Subprocess::start(hub));
  std::string ca = hubData + "/pki/ca.pem";
  SKIFF_ASSERT_OK(waitForReady(
      hubProc,
      [&] {
        auto r = runCommand(
            {"curl", "-fs", "--cacert", ca, "https://127.0.0.1:" + httpPort + "/healthz"}, {}, 5s);
        return r.isOk() && r->exitCode == 0;
      },
      60s, "packaged hub"));
  SKIFF_ASSERT_OK_AND_ASSIGN(
      std::string page,
      runCommandOk({"curl", "-fsS", "--cacert", ca, "https://127.0.0.1:" + httpPort + "/"}));
  EXPECT_NE(page.find("id=\"app\""), std::string::npos) << "packaged dashboard is served";

  // The virtual node: the unit's ExecStartPre writes the hub's admin token to a file.
  std::string tokenFile = dir_->file("hub-token");
  SKIFF_ASSERT_OK(runCommandOk({"sh", "-c",
                                "awk -F, '$3==\"admin\"{print $1; exit}' " + hubData +
                                    "/tokens.csv > " + tokenFile})
                      .status());
  SubprocessOptions vn;
  vn.argv = {root_ + "/usr/bin/skiff-virtual-node",
             "--config",
             etc + "virtual-node.toml",
             "--kubeconfig",
             cpData + "/admin.kubeconfig",
             "--hub",
             "127.0.0.1:" + grpcPort,
             "--hub-ca",
             ca,
             "--hub-token-file",
             tokenFile,
             "--kubelet-listen",
             "127.0.0.1:" + port(),
             "--cert-dir",
             dir_->file("vn-pki")};
  vn.logFile = dir_->file("vn.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess vnProc, Subprocess::start(vn));
  Kubectl k(dir_->file("kube-home"), cpData + "/admin.kubeconfig");
  SKIFF_ASSERT_OK(waitForReady(
      vnProc,
      [&] {
        auto r = k.run({"get", "node", "skiff-fleet", "-o", "name"}, 10s);
        return r.isOk() && r->exitCode == 0;
      },
      60s, "packaged virtual node registers skiff-fleet"));
  EXPECT_EQ(vnProc.stop(), 0) << vnProc.logContents();
  EXPECT_EQ(hubProc.stop(), 0) << hubProc.logContents();
  EXPECT_EQ(cpProc.stop(), 0) << cpProc.logContents();
}

}  // namespace
}  // namespace skiff::test
