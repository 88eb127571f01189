// ContainerEngine + ContainerIo + EngineResources over the Docker Engine API (v1.40, the newest
// version every engine we target speaks: Docker >= 19.03, Moby, balenaEngine, Podman's compat
// service) on a unix socket, through the agent's HTTP client. Only documented v1.40 endpoints
// are used: /images/create (pull and import), /images/{name}/json, /images/{name}/tag,
// /containers/create, /start, /stop, /json, DELETE /containers/{id}, /logs, /stats, /exec,
// /exec/{id}/start, /exec/{id}/json, /volumes/create, /volumes, DELETE /volumes/{name},
// /version.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "edge_agent/engine/container_engine.h"

namespace skiff::edge_agent::engine {

struct DockerEngineOptions {
  std::string socketPath = "/run/docker.sock";
  std::string apiVersion = "1.40";
  std::chrono::seconds requestTimeout{60};
  std::chrono::seconds pullTimeout{900};
};

class DockerEngine final : public ContainerEngine, public ContainerIo, public EngineResources {
 public:
  explicit DockerEngine(DockerEngineOptions opts) : opts_(std::move(opts)) {}

  // Aborts every request in flight and every later one (Unavailable); for shutdown, so a slow
  // pull does not hold the agent up. Not part of the seam: only the owner of the engine calls it.
  void cancelAll() { cancelled_ = true; }

  common::Result<ImageInfo> ensureImage(const std::string& image,
                                        common::protocol::PullPolicy policy,
                                        const RegistryAuth* auth) override;
  common::Result<std::string> create(const ContainerConfig& config) override;
  common::Status start(const std::string& id) override;
  common::Status stop(const std::string& id, std::chrono::seconds timeout) override;
  common::Status remove(const std::string& id) override;
  common::Result<ContainerInfo> inspect(const std::string& id) override;
  common::Result<std::vector<ContainerInfo>> list(
      const std::map<std::string, std::string>& labels) override;

  common::Result<EngineVersion> version() override;
  common::Status logs(const std::string& id, const LogOptions& options, const LogSink& sink,
                      const std::function<bool()>& cancelled) override;
  common::Result<ContainerStats> stats(const std::string& id) override;
  common::Result<ExecResult> exec(const std::string& id, const std::vector<std::string>& command,
                                  std::chrono::milliseconds timeout) override;

  common::Result<std::string> importImage(const std::string& reference,
                                          const std::string& rootfsTar) override;
  common::Result<VolumeInfo> createVolume(const VolumeConfig& config) override;
  common::Status removeVolume(const std::string& name) override;
  common::Result<std::vector<std::string>> listVolumes(
      const std::map<std::string, std::string>& labels) override;

 private:
  struct Reply {
    long status = 0;
    std::string body;
  };
  common::Result<Reply> call(const std::string& method, const std::string& path,
                             const std::string& body = "",
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(0),
                             const std::vector<std::string>& headers = {});
  common::Status pull(const std::string& image, const RegistryAuth* auth);
  common::Result<std::optional<ImageInfo>> imageInfo(const std::string& image);
  // True for Podman's compat service (learned from /version once).
  bool isPodman();

  DockerEngineOptions opts_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int> podman_{-1};  // -1 unknown, 0 no, 1 yes
};

// ---- Pure helpers (exposed for unit tests) ----------------------------------------------------

struct ImageRef {
  std::string registry;  // "docker.io" when the reference names none
  std::string
      repository;      // everything before the tag/digest, as written ("127.0.0.1:5000/busybox")
  std::string tag;     // "latest" when neither tag nor digest is given
  std::string digest;  // "sha256:…" when pinned by digest
};
// Splits an image reference the way Docker does (the first component is a registry when it has
// a '.' or ':' or is "localhost"). InvalidArgument for empty or malformed references.
common::Result<ImageRef> parseImageRef(std::string_view ref);
// True if a credential for `server` applies to images of `registry` (docker.io aliases included).
bool credentialMatches(std::string_view server, std::string_view registry);
// The /containers/create body for config. Docker refuses a hostname for a container that joins
// another's network namespace (the UTS namespace comes with it); Podman needs it set.
common::Json dockerCreateBody(const ContainerConfig& config, bool podman = false);
// Parses a /containers/{id}/json body or one /containers/json entry.
common::Result<ContainerInfo> parseContainerJson(const common::Json& j, bool fromList);
// Splits Docker's multiplexed stream (8-byte frame headers) incrementally: feed() as chunks
// arrive; frames go to sink. A TTY (raw) stream is recognized by its first byte.
class StreamDemuxer {
 public:
  explicit StreamDemuxer(LogSink sink) : sink_(std::move(sink)) {}
  // False when the sink asked to stop. InvalidArgument for a malformed frame header.
  common::Result<bool> feed(std::string_view data);

 private:
  LogSink sink_;
  std::string pending_;
  bool raw_ = false;
  bool decided_ = false;
};

}  // namespace skiff::edge_agent::engine
