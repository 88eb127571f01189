// skiff-hub: parses flags, wires dependencies, calls init() or run(). All logic lives in
// skiff::hub.
#include "common/daemon.h"
#include "common/log.h"
#include "hub/options.h"

int main(int argc, char** argv) {
  auto& stop = skiff::common::installStopSignals();
  CLI::App app{"Device registry, enrollment CA, twins, deployments and MQTT fan-out", "skiff-hub"};
  app.set_version_flag("--version", "skiff-hub " SKIFF_VERSION);
  skiff::hub::Options options;
  skiff::hub::Command command = skiff::hub::Command::kRun;
  skiff::hub::addOptions(app, options, &command);
  int exitCode = 0;
  if (!skiff::common::parseOrExit(app, argc, argv, &exitCode)) return exitCode;
  if (auto s = skiff::common::applyLogging(options.common, "skiff-hub"); !s.isOk()) {
    std::cerr << "skiff-hub: " << s.message() << "\n";
    return 2;
  }
  if (auto s = skiff::hub::validate(options); !s.isOk()) {
    std::cerr << "skiff-hub: " << s.message() << "\n";
    return 2;
  }
  if (command == skiff::hub::Command::kInit) {
    if (auto s = skiff::hub::init(options); !s.isOk()) {
      std::cerr << "skiff-hub init: " << s.toString() << "\n";
      return 1;
    }
    return 0;
  }
  skiff::common::Status s = skiff::hub::run(options, stop.get_token());
  if (!s.isOk()) {
    skiff::common::log::error("exiting", {{"error", s.toString()}});
    std::cerr << "skiff-hub: " << s.toString() << "\n";
    return 1;
  }
  return 0;
}
