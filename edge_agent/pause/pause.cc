// skiff-pause: the process of a pod sandbox's infra container (docs/agent.md "Pod sandboxes").
// It holds the pod's namespaces open while the pod's containers come and go, reaps the zombies
// of a shared PID namespace, and exits on SIGTERM or SIGINT. Linked statically so that it runs
// in an image holding nothing else, which the agent imports into the engine itself: a device
// never needs a registry to start pods. Plain POSIX, no C++ runtime.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void onTerminate(int) { _exit(0); }

void onChild(int) {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
    static const char kVersion[] = "skiff-pause " SKIFF_VERSION "\n";
    (void)!write(1, kVersion, sizeof(kVersion) - 1);
    return 0;
  }
  struct sigaction term = {};
  term.sa_handler = onTerminate;
  sigaction(SIGINT, &term, nullptr);
  sigaction(SIGTERM, &term, nullptr);
  struct sigaction child = {};
  child.sa_handler = onChild;
  child.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &child, nullptr);
  if (getpid() != 1) {
    static const char kWarn[] = "skiff-pause: not running as PID 1\n";
    (void)!write(2, kWarn, sizeof(kWarn) - 1);
  }
  for (;;) pause();
}
