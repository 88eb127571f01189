// Signal-to-stop_token bridge: a dedicated thread sigwait()s so handlers never run user code.
#include "common/daemon.h"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace skiff::common {

std::stop_source& installStopSignals() {
  static std::stop_source source;
  static std::once_flag once;
  std::call_once(once, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        log::info("signal received, shutting down", {{"signal", strsignal(sig)}});
        source.request_stop();
      }
    }).detach();
  });
  return source;
}

bool sleepFor(std::stop_token stop, std::chrono::steady_clock::duration d) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return !cv.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
}

}  // namespace skiff::common
