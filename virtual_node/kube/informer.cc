// Informer over the HTTP API.
#include "virtual_node/kube/informer.h"

#include <mutex>
#include <random>

#include "common/daemon.h"
#include "common/log.h"

namespace skiff::virtual_node::kube {

using common::Status;

std::string objectKeyOf(const Json& obj) {
  const Json& meta = obj.contains("metadata") ? obj["metadata"] : Json::object();
  std::string ns = meta.is_object() ? meta.value("namespace", "") : "";
  std::string name = meta.is_object() ? meta.value("name", "") : "";
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

namespace {
std::string rvOf(const Json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const Json& rv = obj["metadata"].value("resourceVersion", Json());
  return rv.is_string() ? rv.get<std::string>() : "";
}
}  // namespace

Informer::Informer(KubeClient& client, ApiResource resource, InformerOptions options)
    : client_(client), resource_(std::move(resource)), opts_(std::move(options)) {}

Informer::~Informer() { stop(); }

void Informer::addHandlers(EventHandlers h) { handlers_.push_back(std::move(h)); }

void Informer::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void Informer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!synced_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

ObjectPtr Informer::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(cache_.size());
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

std::string Informer::lastResourceVersion() const {
  std::shared_lock lock(mu_);
  return resourceVersion_;
}

std::string Informer::collectionPath() const {
  std::string p = resource_.path(opts_.ns);
  std::string q;
  auto add = [&q](const std::string& k, const std::string& v) {
    q += (q.empty() ? "?" : "&") + k + "=" + queryEscape(v);
  };
  if (!opts_.labelSelector.empty()) add("labelSelector", opts_.labelSelector);
  if (!opts_.fieldSelector.empty()) add("fieldSelector", opts_.fieldSelector);
  return p + (q.empty() ? "?" : q + "&");
}

void Informer::apply(const std::string& key, ObjectPtr obj) {
  ObjectPtr old;
  {
    std::unique_lock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) old = it->second;
    if (obj) {
      cache_[key] = obj;
    } else if (it != cache_.end()) {
      cache_.erase(it);
    }
  }
  for (const auto& h : handlers_) {
    if (obj && old) {
      if (h.onUpdate) h.onUpdate(old, obj);
    } else if (obj) {
      if (h.onAdd) h.onAdd(obj);
    } else if (old) {
      if (h.onDelete) h.onDelete(old);
    }
  }
}

Status Informer::relist(std::string* resourceVersion) {
  std::map<std::string, ObjectPtr> fresh;
  std::string cont;
  std::string rv;
  do {
    std::string path = collectionPath() + "limit=" + std::to_string(opts_.pageSize);
    if (!cont.empty()) path += "&continue=" + queryEscape(cont);
    auto page = client_.get(path);
    if (!page.isOk()) {
      // An expired continue token: start the list over.
      if (page.status().code() == common::StatusCode::kGone && !cont.empty()) {
        cont.clear();
        fresh.clear();
        continue;
      }
      return page.status();
    }
    const Json& meta = page->value("metadata", Json::object());
    rv = meta.value("resourceVersion", "");
    cont = meta.value("continue", "");
    if (page->contains("items") && (*page)["items"].is_array()) {
      for (auto& item : (*page)["items"]) {
        if (!item.is_object()) continue;
        item["kind"] = resource_.kind;
        item["apiVersion"] = resource_.apiVersion();
        std::string key = objectKeyOf(item);
        fresh[key] = std::make_shared<const Json>(std::move(item));
      }
    }
  } while (!cont.empty());

  std::vector<std::string> gone;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, v] : cache_) {
      if (!fresh.contains(k)) gone.push_back(k);
    }
  }
  for (const auto& k : gone) apply(k, nullptr);
  for (auto& [k, v] : fresh) {
    ObjectPtr old = get(k);
    if (old && rvOf(*old) == rvOf(*v) && !rvOf(*v).empty()) continue;
    apply(k, v);
  }
  {
    std::unique_lock lock(mu_);
    resourceVersion_ = rv;
  }
  *resourceVersion = rv;
  ++lists_;
  synced_ = true;
  return Status::ok();
}

Status Informer::watch(std::string* resourceVersion, std::stop_token st) {
  std::string path = collectionPath() + "watch=true&allowWatchBookmarks=true&resourceVersion=" +
                     queryEscape(*resourceVersion) +
                     "&timeoutSeconds=" + std::to_string(opts_.watchTimeout.count());
  Status eventError;
  auto onLine = [&](std::string_view line) {
    auto ev = common::parseJson(line);
    if (!ev.isOk() || !ev->is_object() || !(*ev)["object"].is_object()) {
      eventError =
          common::internalError("malformed watch event: " + std::string(line.substr(0, 200)));
      return false;
    }
    std::string type = ev->value("type", "");
    Json& obj = (*ev)["object"];
    if (type == "ERROR") {
      long long code = obj.value("code", 0LL);
      std::string msg = obj.value("message", "watch error");
      eventError = code == 410 ? common::gone(msg) : common::unavailable(msg);
      return false;
    }
    std::string rv = rvOf(obj);
    if (type == "BOOKMARK") {
      if (!rv.empty()) *resourceVersion = rv;
      return true;
    }
    if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
      eventError = common::internalError("unknown watch event type \"" + type + "\"");
      return false;
    }
    obj["kind"] = resource_.kind;
    obj["apiVersion"] = resource_.apiVersion();
    std::string key = objectKeyOf(obj);
    if (!rv.empty()) *resourceVersion = rv;
    if (type == "DELETED") {
      apply(key, nullptr);
    } else {
      apply(key, std::make_shared<const Json>(std::move(obj)));
    }
    {
      std::unique_lock lock(mu_);
      resourceVersion_ = *resourceVersion;
    }
    return true;
  };
  Status s = client_.streamLines(path, onLine, st, opts_.watchTimeout + std::chrono::seconds(30));
  if (!eventError.isOk()) return eventError;
  return s;
}

void Informer::run(std::stop_token st) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::string rv;
  int failures = 0;
  auto backoff = [&]() {
    auto d = opts_.minBackoff * (1LL << std::min(failures, 16));
    if (d > opts_.maxBackoff) d = opts_.maxBackoff;
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    ++failures;
    return common::sleepFor(
        st, std::chrono::milliseconds(static_cast<long long>(d.count() * jitter(rng))));
  };
  while (!st.stop_requested()) {
    if (rv.empty()) {
      Status s = relist(&rv);
      if (!s.isOk()) {
        common::log::warn("list failed",
                          {{"resource", resource_.resource}, {"error", s.toString()}});
        if (!backoff()) return;
        continue;
      }
      failures = 0;
    }
    auto started = std::chrono::steady_clock::now();
    Status s = watch(&rv, st);
    if (st.stop_requested()) return;
    if (s.code() == common::StatusCode::kGone) {
      common::log::info("watch expired, relisting",
                        {{"resource", resource_.resource}, {"resourceVersion", rv}});
      rv.clear();
      continue;
    }
    if (!s.isOk()) {
      common::log::warn("watch failed",
                        {{"resource", resource_.resource}, {"error", s.toString()}});
      if (!backoff()) return;
      continue;
    }
    // A watch that ended normally resumes from rv at once, unless the server keeps closing
    // streams straight away (then pace the reconnects).
    if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
      if (!backoff()) return;
    } else {
      failures = 0;
    }
  }
}

}  // namespace skiff::virtual_node::kube
