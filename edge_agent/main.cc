// skiff-agent: parses flags, wires dependencies, calls run(). All logic lives in skiff::edge_agent.
#include <malloc.h>

#include "common/daemon.h"
#include "common/log.h"
#include "edge_agent/options.h"

int main(int argc, char** argv) {
  // One malloc arena for all threads (before any thread starts). glibc gives every thread that
  // allocates its own arena, and each keeps freed memory for reuse by that thread only: with the
  // agent's ten mostly idle threads that is ~0.3 MB of resident heap for nothing, while its
  // allocation rate is far too low for contention on one arena to matter.
  mallopt(M_ARENA_MAX, 1);
  // A fixed mmap threshold: large buffers (engine list replies, the pause image's tarball) are
  // mapped and unmapped on their own. glibc otherwise raises the threshold after the first large
  // free, and later large buffers come from the heap, which keeps them resident after use.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  auto& stop = skiff::common::installStopSignals();
  CLI::App app{"Device agent: MQTT client and reconciler against the local container engine",
               "skiff-agent"};
  app.set_version_flag("--version", "skiff-agent " SKIFF_VERSION);
  skiff::edge_agent::Options options;
  skiff::edge_agent::addOptions(app, options);
  int exitCode = 0;
  if (!skiff::common::parseOrExit(app, argc, argv, &exitCode)) return exitCode;
  if (auto s = skiff::common::applyLogging(options.common, "skiff-agent"); !s.isOk()) {
    std::cerr << "skiff-agent: " << s.message() << "\n";
    return 2;
  }
  if (auto s = skiff::edge_agent::validate(options); !s.isOk()) {
    std::cerr << "skiff-agent: " << s.message() << "\n";
    return 2;
  }
  skiff::common::Status s = skiff::edge_agent::run(options, stop.get_token());
  if (!s.isOk()) {
    skiff::common::log::error("exiting", {{"error", s.toString()}});
    return 1;
  }
  return 0;
}
