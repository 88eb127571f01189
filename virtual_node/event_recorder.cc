// Events and object reads over the API.
#include "virtual_node/event_recorder.h"

#include <openssl/rand.h>

#include "common/log.h"

namespace skiff::virtual_node {

namespace {
constexpr std::size_t kMaxQueued = 1000;
constexpr std::size_t kMaxSeen = 4096;
constexpr std::size_t kMaxMessage = 1024;

std::string randomHex(int bytes) {
  unsigned char b[16];
  RAND_bytes(b, bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}
}  // namespace

KubeEventRecorder::KubeEventRecorder(kube::KubeClient& client, const common::Clock& clock,
                                     std::string component, std::string host)
    : client_(client), clock_(clock), component_(std::move(component)), host_(std::move(host)) {
  thread_ = std::thread([this] { run(); });
}

KubeEventRecorder::~KubeEventRecorder() { stop(); }

void KubeEventRecorder::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void KubeEventRecorder::event(const Json& obj, std::string_view type, std::string_view reason,
                              std::string_view message) {
  const Json& meta = common::jsonField(obj, "metadata");
  auto orDefault = [](std::string v, const char* dflt) { return v.empty() ? dflt : v; };
  Pending p;
  p.involved = {{"kind", orDefault(common::jsonString(obj, "kind"), "Pod")},
                {"apiVersion", orDefault(common::jsonString(obj, "apiVersion"), "v1")},
                {"name", common::jsonString(meta, "name")},
                {"uid", common::jsonString(meta, "uid")}};
  std::string ns = common::jsonString(meta, "namespace");
  if (!ns.empty()) p.involved["namespace"] = ns;
  if (meta.contains("resourceVersion")) p.involved["resourceVersion"] = meta["resourceVersion"];
  p.ns = ns.empty() ? "default" : ns;
  p.type = type;
  p.reason = reason;
  p.message = message.substr(0, kMaxMessage);
  p.at = clock_.now();
  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (queue_.size() >= kMaxQueued) {
    common::log::warn("event queue full, dropping event",
                      {{"reason", p.reason}, {"object", p.involved["name"]}});
    return;
  }
  queue_.push_back(std::move(p));
  cv_.notify_all();
}

void KubeEventRecorder::flush() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || stopping_; });
}

void KubeEventRecorder::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      if (stopping_) {
        queue_.clear();  // at shutdown, do not hold the process on a slow API server
        cv_.notify_all();
        return;
      }
      p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    write(p);
    std::lock_guard lock(mu_);
    busy_ = false;
    cv_.notify_all();
  }
}

void KubeEventRecorder::write(const Pending& p) {
  std::string key = common::jsonString(p.involved, "uid") + "\x1f" +
                    common::jsonString(p.involved, "name") + "\x1f" + p.type + "\x1f" + p.reason +
                    "\x1f" + p.message;
  std::string now = common::formatRfc3339(p.at);
  auto it = seen_.find(key);
  if (it != seen_.end()) {
    Json patch = {{"count", it->second.count + 1}, {"lastTimestamp", now}};
    auto r = client_.patch(kube::resources::kEvents.path(it->second.ns, it->second.name), patch);
    if (r.isOk()) {
      ++it->second.count;
      return;
    }
    seen_.erase(it);  // gone (expired, deleted): write a fresh one
  }
  if (seen_.size() >= kMaxSeen) seen_.clear();
  std::string involved = common::jsonString(p.involved, "name");
  std::string name = (involved.empty() ? "object" : involved) + "." + randomHex(8);
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name}, {"namespace", p.ns}}},
             {"involvedObject", p.involved},
             {"reason", p.reason},
             {"message", p.message},
             {"type", p.type},
             {"count", 1},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"eventTime", nullptr},
             {"source", {{"component", component_}, {"host", host_}}},
             {"reportingComponent", component_},
             {"reportingInstance", host_}};
  auto r = client_.create(kube::resources::kEvents.path(p.ns), ev);
  if (!r.isOk()) {
    common::log::warn("writing event failed",
                      {{"reason", p.reason}, {"error", r.status().toString()}});
    return;
  }
  seen_[key] = Seen{name, p.ns, 1};
}

common::Result<Json> KubeObjectReader::getConfigMap(const std::string& ns,
                                                    const std::string& name) {
  return client_.get(kube::resources::kConfigMaps.path(ns, name));
}

common::Result<Json> KubeObjectReader::getSecret(const std::string& ns, const std::string& name) {
  return client_.get(kube::resources::kSecrets.path(ns, name));
}

}  // namespace skiff::virtual_node
