// Kubeconfig loading: contexts, clusters and users; inline data and files relative to the
// kubeconfig; tokens and client certificates; every error names the file and the field.
#include "virtual_node/kube/kubeconfig.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "common/fs.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::virtual_node::kube {
namespace {

std::string doc(const std::string& cluster, const std::string& user,
                const std::string& extra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: main\ncontexts:\n"
         "- name: main\n  context: {cluster: k, user: u, namespace: apps}\n"
         "- name: other\n  context: {cluster: k2, user: u}\n"
         "clusters:\n- name: k\n  cluster:\n" +
         cluster +
         "- name: k2\n  cluster: {server: 'https://10.0.0.2:6443', insecure-skip-tls-verify: "
         "true}\n" +
         "users:\n- name: u\n  user:\n" + user + extra;
}

TEST(KubeConfigTest, InlineDataAndToken) {
  std::string ca = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
  auto cfg =
      parseKubeConfig(doc("    server: https://127.0.0.1:6443/\n    certificate-authority-data: " +
                              common::base64Encode(ca) + "\n",
                          "    token: secret-token\n"),
                      "/tmp", "test");
  SKIFF_ASSERT_OK(cfg);
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->caPem, ca);
  EXPECT_EQ(cfg->token, "secret-token");
  EXPECT_EQ(cfg->ns, "apps");
  EXPECT_EQ(cfg->contextName, "main");
  EXPECT_FALSE(cfg->insecureSkipTlsVerify);
}

TEST(KubeConfigTest, FilesAreRelativeToTheKubeconfig) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, test::TempDir::create("kubeconfig"));
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir.file("ca.pem"), "CA"));
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir.file("client.pem"), "CERT"));
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir.file("client.key"), "KEY"));
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir.file("token"), "file-token\n"));
  SKIFF_ASSERT_OK(common::writeFileAtomic(
      dir.file("config"),
      doc("    server: https://127.0.0.1:6443\n    certificate-authority: ca.pem\n",
          "    client-certificate: client.pem\n    client-key: " + dir.file("client.key") + "\n")));
  auto cfg = loadKubeConfig(dir.file("config"));
  SKIFF_ASSERT_OK(cfg);
  EXPECT_EQ(cfg->caPem, "CA");
  EXPECT_EQ(cfg->clientCertPem, "CERT");
  EXPECT_EQ(cfg->clientKeyPem, "KEY");
  SKIFF_ASSERT_OK(common::writeFileAtomic(
      dir.file("config2"), doc("    server: https://127.0.0.1:6443\n", "    tokenFile: token\n")));
  auto withToken = loadKubeConfig(dir.file("config2"));
  SKIFF_ASSERT_OK(withToken);
  EXPECT_EQ(withToken->token, "file-token");
}

TEST(KubeConfigTest, ContextOverride) {
  auto cfg = parseKubeConfig(doc("    server: https://127.0.0.1:6443\n", "    token: t\n"), "/",
                             "test", "other");
  SKIFF_ASSERT_OK(cfg);
  EXPECT_EQ(cfg->server, "https://10.0.0.2:6443");
  EXPECT_TRUE(cfg->insecureSkipTlsVerify);
  EXPECT_EQ(cfg->ns, "default");
}

TEST(KubeConfigTest, ErrorsNameFileAndField) {
  auto expectError = [](const std::string& text, const std::string& want,
                        const std::string& context = "") {
    auto cfg = parseKubeConfig(text, "/nonexistent", "/etc/k.conf", context);
    ASSERT_FALSE(cfg.isOk()) << text;
    EXPECT_EQ(cfg.status().code(), common::StatusCode::kInvalidArgument);
    EXPECT_NE(cfg.status().message().find("kubeconfig /etc/k.conf: " + want), std::string::npos)
        << cfg.status().message();
  };
  const std::string server = "    server: https://127.0.0.1:6443\n";
  expectError("clusters: [", "line");
  expectError("- a\n- b\n", "(document): expected a map");
  expectError("apiVersion: v1\nkind: Config\n", "current-context: required");
  expectError(doc(server, "    token: t\n"), "contexts: no entry named \"nope\"", "nope");
  expectError(doc("    certificate-authority-data: eA==\n", "    token: t\n"),
              "clusters[0].cluster.server: required");
  expectError(doc("    server: ftp://x\n", "    token: t\n"),
              "clusters[0].cluster.server: must be an https:// URL");
  expectError(doc(server + "    certificate-authority-data: '***'\n", "    token: t\n"),
              "clusters[0].cluster.certificate-authority-data");
  expectError(doc(server + "    certificate-authority: missing.pem\n", "    token: t\n"),
              "clusters[0].cluster.certificate-authority: cannot read /nonexistent/missing.pem");
  expectError(doc(server, "    client-key-data: eA==\n"),
              "users[0].user.client-certificate: required with client-key");
  expectError(doc(server, "    exec: {command: aws}\n"), "users[0].user.exec: not supported");
  expectError(doc(server, "    token: a\n    tokenFile: b\n"),
              "users[0].user: token and tokenFile are mutually exclusive");
  expectError(doc(server + "    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
              "clusters[0].cluster.insecure-skip-tls-verify: expected true or false");
  auto missing = loadKubeConfig("/nonexistent/kubeconfig");
  EXPECT_EQ(missing.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("kubeconfig /nonexistent/kubeconfig"),
            std::string::npos);
}

}  // namespace
}  // namespace skiff::virtual_node::kube
