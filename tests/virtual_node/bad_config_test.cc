// skiff-virtual-node refuses bad kubeconfigs, credentials and flags with a clear message naming
// the file, field or flag, and a non-zero exit — before touching anything. Real control plane
// (for the rejected-credentials case) and FakeHub test double.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "tests/support/status_assert.h"
#include "tests/virtual_node/vn_env.h"

#ifndef SKIFF_VIRTUAL_NODE_BIN
#error "SKIFF_VIRTUAL_NODE_BIN must name the skiff-virtual-node binary"
#endif

namespace skiff::test {
namespace {

class VirtualNodeBadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto d, TempDir::create("vn-badcfg"));
    dir.emplace(std::move(d));
    SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("ca.pem"), "not a certificate"));
    SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("token"), "t\n"));
  }

  CommandResult run(std::vector<std::string> args) {
    std::vector<std::string> argv = {SKIFF_VIRTUAL_NODE_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, {}, std::chrono::seconds(30));
    return r.isOk() ? *r : CommandResult{-1, r.status().toString()};
  }

  std::vector<std::string> base(const std::string& kubeconfig) {
    return {"--kubeconfig",     kubeconfig,         "--hub-ca",   dir->file("hub-ca.pem"),
            "--hub-token-file", dir->file("token"), "--cert-dir", dir->file("pki"),
            "--kubelet-listen", "127.0.0.1:0"};
  }

  std::optional<TempDir> dir;
};

TEST_F(VirtualNodeBadConfigTest, FlagsAreValidated) {
  auto r = run({"--kubeconfig", "/k", "--hub", "nowhere", "--hub-ca", "x", "--hub-token", "t"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--hub: invalid address \"nowhere\""), std::string::npos) << r.output;
  r = run({"--kubeconfig", "/k", "--hub-ca", "x"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--hub-token or --hub-token-file is required"), std::string::npos);
  r = run({"--kubeconfig", "/k", "--hub-token", "t"});
  EXPECT_NE(r.output.find("--hub-ca is required"), std::string::npos) << r.output;
  r = run({"--kubeconfig", "/k", "--hub-token", "t", "--hub-ca", "x", "--lease-duration", "5s",
           "--lease-renew-interval", "10s"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--lease-renew-interval must be shorter than --lease-duration"),
            std::string::npos);
  r = run({"--kubeconfig", "/k", "--hub-token", "t", "--hub-ca", "x", "--lease-duration", "soon"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--lease-duration"), std::string::npos) << r.output;
  r = run({"--kubeconfig", "/k", "--hub-token", "t", "--hub-ca", "x", "--node-name", "Fleet_1"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--node-name"), std::string::npos) << r.output;
  r = run({"--kubeconfig", "/k", "--hub-token", "t", "--hub-ca", "x", "--kubelet-listen",
           "0.0.0.0:10250"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--kubelet-advertise-address is required"), std::string::npos);
}

TEST_F(VirtualNodeBadConfigTest, KubeconfigProblemsNameTheFileAndField) {
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("hub-ca.pem"), "x"));
  auto r = run(base(dir->file("missing.kubeconfig")));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("kubeconfig " + dir->file("missing.kubeconfig")), std::string::npos)
      << r.output;
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("bad.kubeconfig"), "clusters: [\n"));
  r = run(base(dir->file("bad.kubeconfig")));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("kubeconfig " + dir->file("bad.kubeconfig") + ": line"),
            std::string::npos)
      << r.output;
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("nokey.kubeconfig"), R"(apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {client-certificate-data: aGVsbG8=}}]
)"));
  r = run(base(dir->file("nokey.kubeconfig")));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("users[0].user.client-key: required with client-certificate"),
            std::string::npos)
      << r.output;
}

TEST_F(VirtualNodeBadConfigTest, HubMaterialAndRejectedCredentials) {
  VnEnv env;
  SKIFF_ASSERT_OK(env.setUp("vn-badcred"));
  // A CA file that is not PEM.
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("hub-ca.pem"), "garbage"));
  auto r = run(base(env.cp().adminKubeconfig()));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("--hub-ca " + dir->file("hub-ca.pem") + ": not a PEM certificate"),
            std::string::npos)
      << r.output;
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("hub-ca.pem"), env.hub().caPem()));
  // A kubeconfig whose token the API server does not know.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string kc, common::readFile(env.cp().adminKubeconfig()));
  std::string token = env.cp().adminToken();
  kc.replace(kc.find(token), token.size(), "not-a-valid-token");
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir->file("wrong.kubeconfig"), kc));
  r = run(base(dir->file("wrong.kubeconfig")));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.output.find("the API server rejected the credentials"), std::string::npos)
      << r.output;
  // Nothing was registered.
  auto nodes = env.kubectl().ok({"get", "nodes", "-o", "name"});
  ASSERT_TRUE(nodes.isOk());
  EXPECT_EQ(*nodes, "");
}

}  // namespace
}  // namespace skiff::test
