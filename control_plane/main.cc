// skiff-control-plane: parses flags, wires dependencies, calls run(). All logic lives in
// skiff::control_plane.
#include "common/daemon.h"
#include "common/log.h"
#include "control_plane/options.h"

int main(int argc, char** argv) {
  auto& stop = skiff::common::installStopSignals();
  CLI::App app{"Kubernetes API server, store, scheduler and controllers in one process",
               "skiff-control-plane"};
  app.set_version_flag("--version", "skiff-control-plane " SKIFF_VERSION);
  skiff::control_plane::Options options;
  skiff::control_plane::addOptions(app, options);
  int exitCode = 0;
  if (!skiff::common::parseOrExit(app, argc, argv, &exitCode)) return exitCode;
  if (auto s = skiff::common::applyLogging(options.common, "skiff-control-plane"); !s.isOk()) {
    std::cerr << "skiff-control-plane: " << s.message() << "\n";
    return 2;
  }
  if (auto s = skiff::control_plane::validate(options); !s.isOk()) {
    std::cerr << "skiff-control-plane: " << s.message() << "\n";
    return 2;
  }
  skiff::common::Status s = skiff::control_plane::run(options, stop.get_token());
  if (!s.isOk()) {
    skiff::common::log::error("exiting", {{"error", s.toString()}});
    return 1;
  }
  return 0;
}
