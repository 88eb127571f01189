// The image of every pod sandbox's infra container. By default the agent's own static
// skiff-pause program (edge_agent/pause/pause.cc), imported into the engine as the local image
// localhost/skiff-pause:<first 12 hex of its SHA-256> the first time a pod needs it: a device
// that is offline or air-gapped still starts pods, and a new agent version with a new pause
// binary gets a new tag. `--pod-infra-image` names an image of the operator's own instead (pulled
// if missing, started with its own entrypoint).
//
// Thread-safe; ensure() blocks on engine calls (the first import reads ~0.7 MB from disk).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "edge_agent/engine/container_engine.h"

namespace skiff::edge_agent::pod {

struct InfraImage {
  std::string reference;
  std::vector<std::string> entrypoint;  // empty: the image's own
};

class PauseImage {
 public:
  // pauseBinary: path of skiff-pause ("" = look next to the agent's executable, then in
  // ../lib/skiff-agent/). customImage: "" for the built-in image.
  PauseImage(engine::ContainerEngine& engine, engine::EngineResources& resources,
             std::string pauseBinary, std::string customImage);

  // The image to create infra containers from, importing or pulling it when the engine lacks
  // it. NotFound when the pause binary cannot be found; engine errors as they come.
  // Remembered after the first success; forget() makes the next call check the engine again.
  common::Result<InfraImage> ensure();
  void forget();

 private:
  engine::ContainerEngine& engine_;
  engine::EngineResources& resources_;
  std::string pauseBinary_;
  std::string customImage_;
  std::mutex mu_;
  std::optional<InfraImage> known_;
};

// Where skiff-pause is looked for when no path is configured.
std::vector<std::string> defaultPauseBinaryPaths();

// A POSIX ustar archive holding one regular file (owner root, mtime 0): the root file system of
// the pause image. Pure; exposed for tests.
std::string ustarWithOneFile(std::string_view name, std::string_view content, int mode);

}  // namespace skiff::edge_agent::pod
