// skiff-virtual-node: parses flags, wires dependencies, calls run(). All logic lives in
// skiff::virtual_node.
#include "common/daemon.h"
#include "common/log.h"
#include "virtual_node/options.h"

int main(int argc, char** argv) {
  auto& stop = skiff::common::installStopSignals();
  CLI::App app{"virtual-kubelet: registers nodes and syncs pods through the edge provider",
               "skiff-virtual-node"};
  app.set_version_flag("--version", "skiff-virtual-node " SKIFF_VERSION);
  skiff::virtual_node::Options options;
  skiff::virtual_node::addOptions(app, options);
  int exitCode = 0;
  if (!skiff::common::parseOrExit(app, argc, argv, &exitCode)) return exitCode;
  if (auto s = skiff::common::applyLogging(options.common, "skiff-virtual-node"); !s.isOk()) {
    std::cerr << "skiff-virtual-node: " << s.message() << "\n";
    return 2;
  }
  if (auto s = skiff::virtual_node::validate(options); !s.isOk()) {
    std::cerr << "skiff-virtual-node: " << s.message() << "\n";
    return 2;
  }
  skiff::common::Status s = skiff::virtual_node::run(options, stop.get_token());
  if (!s.isOk()) {
    skiff::common::log::error("exiting", {{"error", s.toString()}});
    return 1;
  }
  return 0;
}
