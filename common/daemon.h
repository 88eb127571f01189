// Process lifecycle shared by every daemon: SIGTERM/SIGINT become a std::stop_token request,
// so each component's run(std::stop_token) shuts down cleanly (flush, close, stop children).
#pragma once

#include <chrono>
#include <stop_token>

namespace skiff::common {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call first in main, before starting
// threads, so they inherit the mask) and starts a watcher thread that requests stop on the
// returned source when one arrives. Idempotent: later calls return the same source.
std::stop_source& installStopSignals();

// Sleeps until d elapses or stop is requested; returns false if stopped.
bool sleepFor(std::stop_token stop, std::chrono::steady_clock::duration d);

}  // namespace skiff::common
