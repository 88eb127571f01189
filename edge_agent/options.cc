// Options of skiff-agent.
#include "edge_agent/options.h"

#include "common/net.h"

namespace skiff::edge_agent {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--state-dir", o.stateDir, "State directory (identity, desired state)")
      ->capture_default_str();
  app.add_option("--engine", o.engineSocket,
                 "Docker Engine API unix socket (Docker, Podman, balena)")
      ->capture_default_str();
}

common::Status validate(const Options& o) {
  if (o.stateDir.empty()) return common::invalidArgument("--state-dir is required");
  if (o.engineSocket.empty()) return common::invalidArgument("--engine must name a unix socket");
  return common::Status::ok();
}

common::Status run(const Options&, std::stop_token) {
  return common::unavailable("skiff-agent is not implemented yet (issue #7)");
}

}  // namespace skiff::edge_agent
