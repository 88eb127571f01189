// Test fixtures around the real skiff-control-plane binary: a ControlPlaneProcess started on a
// free 127.0.0.1 port with its own data dir (sqlite or an etcd:// store), HTTPS clients with the
// data dir's CA and tokens, a Kubectl runner with a private HOME, and a parser for kubectl's
// column output.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json.h"
#include "common/status.h"
#include "tests/control_plane/https_client.h"
#include "tests/support/process.h"

namespace skiff::test {

struct ControlPlaneProcessOptions {
  std::string dataDir;  // required; created by the control plane if missing
  int port = 0;         // 0: pick a free loopback port
  std::string store;    // "" / "sqlite", or "etcd://127.0.0.1:<p>[/prefix]"
  // false: --disable-scheduler --disable-controllers, so only the API server acts on objects
  // (an unbound pod stays unbound, a Deployment gets no ReplicaSet, no Events are recorded).
  bool schedulerAndControllers = false;
  // Further flags. Unless they set --node-monitor-grace-period it is 1h here: test Nodes are
  // plain objects nobody heartbeats for, and must not turn NotReady mid-test.
  std::vector<std::string> extraArgs;
  std::chrono::milliseconds startTimeout = std::chrono::seconds(15);
};

class ControlPlaneProcess {
 public:
  // Starts the binary and waits until GET /healthz answers 200 over HTTPS.
  static common::Result<std::unique_ptr<ControlPlaneProcess>> start(
      ControlPlaneProcessOptions opts);
  ~ControlPlaneProcess();  // stops the process (SIGTERM, then SIGKILL)

  // SIGTERM and reap; returns the exit code (0 on a clean shutdown).
  int stop();
  // SIGKILL (a crash) and reap.
  void kill9();
  // Starts the process again on the same data dir, store and port.
  common::Status restart();
  bool isRunning();
  pid_t pid() const;
  std::string logContents() const;

  int port() const { return opts_.port; }
  const std::string& dataDir() const { return opts_.dataDir; }
  std::string baseUrl() const { return "https://127.0.0.1:" + std::to_string(opts_.port); }
  std::string caFile() const { return opts_.dataDir + "/pki/ca.pem"; }
  std::string adminKubeconfig() const { return opts_.dataDir + "/admin.kubeconfig"; }
  std::string readOnlyKubeconfig() const { return opts_.dataDir + "/read-only.kubeconfig"; }
  // Tokens from tokens.csv: the first line is admin, the second read-only.
  const std::string& adminToken() const { return adminToken_; }
  const std::string& readOnlyToken() const { return readOnlyToken_; }

  HttpsClient adminClient() const { return HttpsClient(baseUrl(), caFile(), adminToken_); }
  HttpsClient readOnlyClient() const { return HttpsClient(baseUrl(), caFile(), readOnlyToken_); }
  HttpsClient client(const std::string& token) const {
    return HttpsClient(baseUrl(), caFile(), token);
  }

 private:
  explicit ControlPlaneProcess(ControlPlaneProcessOptions opts) : opts_(std::move(opts)) {}
  common::Status launch();
  ControlPlaneProcessOptions opts_;
  std::optional<Subprocess> proc_;
  int launches_ = 0;
  std::string adminToken_;
  std::string readOnlyToken_;
};

// Runs the real kubectl with HOME=<home> (so the discovery cache is private) and
// KUBECONFIG=<kubeconfig>.
class Kubectl {
 public:
  Kubectl(std::string home, std::string kubeconfig)
      : home_(std::move(home)), kubeconfig_(std::move(kubeconfig)) {}
  common::Result<CommandResult> run(const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // run(), and Internal with the output unless kubectl exited 0.
  common::Result<std::string> ok(const std::vector<std::string>& args,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Environment for a long-running kubectl started with Subprocess.
  std::map<std::string, std::string> env() const;
  const std::string& kubeconfig() const { return kubeconfig_; }

 private:
  std::string home_;
  std::string kubeconfig_;
};

// kubectl's column output parsed by the header's column positions (cells may be empty or
// contain single spaces). Lines that do not belong to a table (warnings) must be removed first.
struct KubectlTable {
  std::vector<std::string> header;  // "NAME", "NOMINATED NODE", ...
  std::vector<std::map<std::string, std::string>> rows;
  std::string headerLine;  // the header line with its spacing collapsed to single spaces
};
// Parses the first table in text: the first line starting with an upper-case word is the header.
KubectlTable parseKubectlTable(const std::string& text);
// The fixture of the integration tests that drive a control plane through kubectl: a temp dir, a
// ControlPlaneProcess (scheduler and controllers on, plus `extraArgs()`) and kubectl with its own
// HOME. The control plane's log is printed when a test fails.
class ControlPlaneKubectlTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Extra flags for the control plane (a derived fixture's timings).
  virtual std::vector<std::string> extraArgs() const { return {}; }
  // Writes content to `name` in the test's dir; returns its path.
  std::string file(const std::string& name, const std::string& content);
  // `kubectl <args> -o json` parsed; null when kubectl failed.
  common::Json getJson(const std::vector<std::string>& args);

  std::optional<TempDir> dir_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::optional<Kubectl> kubectl_;
};

// Splits text into lines (without the newline characters).
std::vector<std::string> splitLines(const std::string& text);
// Collapses runs of spaces into one and trims.
std::string squeezeSpaces(const std::string& s);

}  // namespace skiff::test
