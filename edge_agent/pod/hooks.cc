// Lifecycle hooks (see hooks.h).
#include "edge_agent/pod/hooks.h"

#include <thread>

namespace skiff::edge_agent::pod {

namespace protocol = common::protocol;
using common::Status;

Status runHook(engine::ContainerIo& io, const protocol::Handler& h, const ProbeTarget& target,
               const std::string& pod, const std::string& container,
               std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) {
  const std::string who = " for Container \"" + container + "\" in Pod \"" + pod + "\" failed";
  switch (h.kind) {
    case protocol::Handler::Kind::kExec: {
      std::string cmd;
      for (const auto& a : h.command) cmd += (cmd.empty() ? "" : " ") + a;
      auto r =
          io.exec(target.containerId, h.command, std::max(timeout, std::chrono::milliseconds(1)));
      if (!r.isOk()) {
        return common::unavailable("Exec lifecycle hook ([" + cmd + "])" + who +
                                   " - error: " + r.status().message() + ", message: \"\"");
      }
      if (r->exitCode != 0) {
        return common::unavailable("Exec lifecycle hook ([" + cmd + "])" + who +
                                   " - error: command '" + cmd + "' exited with " +
                                   std::to_string(r->exitCode) + ", message: \"" +
                                   r->output.substr(0, 512) + "\"");
      }
      return Status::ok();
    }
    case protocol::Handler::Kind::kHttpGet: {
      Status s =
          httpGetCheck({h.scheme, h.host, h.port, h.path, h.httpHeaders}, target,
                       std::max(timeout, std::chrono::milliseconds(1)), "skiff-agent-lifecycle");
      if (!s.isOk()) {
        return common::unavailable("HTTP lifecycle hook (" + h.path + ")" + who +
                                   " - error: " + s.message());
      }
      return Status::ok();
    }
    case protocol::Handler::Kind::kSleep: {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(h.sleepSeconds);
      while (std::chrono::steady_clock::now() < until) {
        if (cancelled && cancelled()) {
          return common::unavailable("Sleep lifecycle hook (" + std::to_string(h.sleepSeconds) +
                                     ")" + who +
                                     " - error: container terminated before sleep "
                                     "hook finished");
        }
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
      }
      return Status::ok();
    }
  }
  return common::internalError("unknown lifecycle handler");
}

}  // namespace skiff::edge_agent::pod
