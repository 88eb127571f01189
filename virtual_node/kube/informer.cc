// Informer over the HTTP API.
#include "virtual_node/kube/informer.h"

#include <mutex>
#include <random>

#include "common/daemon.h"
#include "common/log.h"

namespace skiff::virtual_node::kube {

using common::Status;

namespace {
std::string rvOf(const Json& obj) {
  return common::jsonString(common::jsonField(obj, "metadata"), "resourceVersion");
}
}  // namespace

Informer::Informer(KubeClient& client, ApiResource resource, InformerOptions options)
    : client_(client), resource_(std::move(resource)), opts_(std::move(options)) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void Informer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

std::string Informer::lastResourceVersion() const {
  std::lock_guard lock(mu_);
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
    const Json& meta = common::jsonField(*page, "metadata");
    rv = common::jsonString(meta, "resourceVersion");
    cont = common::jsonString(meta, "continue");
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

  cache_.replace(std::move(fresh));
  {
    std::lock_guard lock(mu_);
    resourceVersion_ = rv;
  }
  *resourceVersion = rv;
  ++lists_;
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
    std::string type = common::jsonString(*ev, "type");
    Json& obj = (*ev)["object"];
    if (type == "ERROR") {
      const Json& codeField = common::jsonField(obj, "code");
      long long code = codeField.is_number_integer() ? codeField.get<long long>() : 0;
      std::string msg = common::jsonString(obj, "message");
      if (msg.empty()) msg = "watch error";
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
      cache_.apply(key, nullptr);
    } else {
      cache_.apply(key, std::make_shared<const Json>(std::move(obj)));
    }
    {
      std::lock_guard lock(mu_);
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
