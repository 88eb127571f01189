// EventRecorder implementation.
#include "control_plane/controllers/event_recorder.h"

#include <openssl/rand.h>

#include "common/kube/objects.h"
#include "control_plane/apiserver/object_store.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

EventRecorder::EventRecorder(Client& client, const common::Clock& clock, std::string component)
    : client_(client), clock_(clock), component_(std::move(component)) {}

void EventRecorder::record(const Json& obj, const std::string& type, const std::string& reason,
                           const std::string& message) {
  const auto* events = apiserver::findResource("", "v1", "events");
  std::string ns = kube::ObjectView(obj).ns();
  if (ns.empty()) ns = "default";  // events about cluster-scoped objects live in default
  std::string uid = kube::ObjectView(obj).uid();
  std::string key = uid + "|" + type + "|" + reason + "|" + message;
  std::string now = common::formatRfc3339(clock_.now());
  // The lock guards only the series map: writes happen outside it so that concurrent callers
  // (the scheduler's bind workers) are not serialized on one another's store commits.
  {
    std::unique_lock lock(mu_);
    if (seen_.size() > 4096) seen_.clear();  // bounded memory; worst case a new series starts
    auto it = seen_.find(key);
    if (it != seen_.end()) {
      long long count = ++it->second.count;
      std::string name = it->second.name;
      std::string evNs = it->second.ns;
      lock.unlock();
      Json patch = {{"count", count}, {"lastTimestamp", now}};
      if (client_.patch(*events, evNs, name, patch).isOk()) return;
      lock.lock();
      seen_.erase(key);
    }
  }
  unsigned char rnd[8];
  RAND_bytes(rnd, sizeof rnd);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (unsigned char b : rnd) {
    suffix += kHex[b >> 4];
    suffix += kHex[b & 0xf];
  }
  std::string name = kube::ObjectView(obj).name() + "." + suffix;
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name}, {"namespace", ns}}},
             {"involvedObject",
              {{"kind", common::jsonString(obj, "kind")},
               {"apiVersion", common::jsonString(obj, "apiVersion")},
               {"name", kube::ObjectView(obj).name()},
               {"namespace", kube::ObjectView(obj).ns()},
               {"uid", uid},
               {"resourceVersion", kube::ObjectView(obj).resourceVersion()}}},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", {{"component", component_}}},
             {"reportingComponent", component_},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"count", 1}};
  {
    std::lock_guard lock(mu_);
    seen_.try_emplace(key, Entry{name, ns, 1});
  }
  if (!client_.create(*events, ns, ev).isOk()) {
    std::lock_guard lock(mu_);
    auto it = seen_.find(key);
    if (it != seen_.end() && it->second.name == name) seen_.erase(it);
  }
}

}  // namespace skiff::control_plane::controllers
