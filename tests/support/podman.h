// PodmanFixture: `podman system service` exposing the Docker-compatible API on a unix socket, with
// every piece of state (containers.conf, storage.conf, registries.conf, graph/run roots,
// XDG_RUNTIME_DIR) in its own temp dir. Configured for this machine kind: runc, vfs, cgroupfs,
// host cgroup namespace and explicit ulimits (no CAP_SYS_RESOURCE in the sandbox).
//
// Networking: plain containers share the host's network namespace (as before pods existed);
// pod sandboxes ask for the engine's default network ("bridge"), which is a CNI bridge of this
// fixture's own — interface skf<N> with 10.213.<N>.0/24, N taken under a lock file so parallel
// fixtures never share one, IPAM state in the temp dir, no masquerading — removed again by stop().
// Its addresses exist only on this machine.
// env() lets tests drive the `podman` CLI against the same storage (e.g. benchmarks vs podman run).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tests/support/process.h"

namespace skiff::test {

struct PodmanOptions {
  // "127.0.0.1:<port>" registries to mark insecure (plain HTTP), e.g. RegistryFixture::hostPort().
  std::vector<std::string> insecureRegistries;
  std::chrono::milliseconds startTimeout = std::chrono::seconds(20);
};

class PodmanFixture {
 public:
  // Writes the config files, starts the service, waits until GET /_ping answers OK.
  static common::Result<std::unique_ptr<PodmanFixture>> create(PodmanOptions opts = {});
  // Removes all containers (`podman rm -af`), stops the service, unmounts leftovers.
  ~PodmanFixture();
  PodmanFixture(const PodmanFixture&) = delete;
  PodmanFixture& operator=(const PodmanFixture&) = delete;

  const std::string& socketPath() const { return socketPath_; }
  // libcurl URL prefix for the socket: "http://d" (+ "/v1.41/containers/json").
  std::string baseUrl() const { return "http://d"; }
  // CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF, XDG_RUNTIME_DIR, …
  const std::map<std::string, std::string>& env() const { return env_; }
  // Runs `podman <args>` with env() (blocking); output is stdout+stderr.
  common::Result<CommandResult> podman(
      const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Idempotent. Same sequence as the destructor.
  void stop();
  const std::string& dir() const { return dir_.path(); }
  // The fixture's bridge network: name (= interface) and subnet ("10.213.7.0/24").
  const std::string& networkName() const { return network_; }
  const std::string& subnet() const { return subnet_; }
  std::string logContents() const;
  // conmon processes still referring to this instance's storage (none after stop()).
  std::vector<pid_t> leftoverConmons() const;

 private:
  explicit PodmanFixture(TempDir dir) : dir_(std::move(dir)) {}
  void unmountLeftovers();

  Status allocateNetwork();
  void releaseNetwork();

  TempDir dir_;
  std::string network_;
  std::string subnet_;
  int networkLock_ = -1;
  std::string socketPath_;
  std::map<std::string, std::string> env_;
  std::optional<Subprocess> proc_;
};

// Docker's multiplexed log/attach stream (8-byte header: stream type, 3 zero bytes, big-endian
// uint32 length) split per stream. InvalidArgument on a truncated or malformed frame.
struct DockerStreams {
  std::string stdoutData;
  std::string stderrData;
};
common::Result<DockerStreams> demuxDockerStream(std::string_view data);

}  // namespace skiff::test
