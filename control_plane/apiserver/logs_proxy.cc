// Log proxy to the kubelet (virtual node) endpoint.
#include "control_plane/apiserver/logs_proxy.h"

#include <curl/curl.h>

namespace skiff::control_plane::apiserver {

using common::Json;

namespace {

struct StreamState {
  common::http::ResponseWriter* w;
  long httpCode = 0;
  CURL* curl = nullptr;
  std::string errorBody;
  bool started = false;
};

size_t onData(char* p, size_t size, size_t n, void* ud) {
  auto* s = static_cast<StreamState*>(ud);
  if (s->httpCode == 0) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->httpCode);
  if (s->httpCode != 200) {
    s->errorBody.append(p, size * n);
    return size * n;
  }
  if (!s->started) {
    s->w->startStream(200, "text/plain");
    s->started = true;
  }
  return s->w->writeChunk(std::string_view(p, size * n)) ? size * n : 0;
}

int onProgress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<StreamState*>(ud)->w->cancelled() ? 1 : 0;
}

std::string escape(CURL* c, const std::string& s) {
  char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

}  // namespace

std::optional<ApiError> proxyContainerLogs(const common::http::Request& req, const Json& pod,
                                           const Json& node,
                                           const common::tls::TlsFiles& kubeletClient,
                                           common::http::ResponseWriter& w) {
  std::string name = common::jsonString(common::jsonField(pod, "metadata"), "name");
  std::string ns = common::jsonString(common::jsonField(pod, "metadata"), "namespace");
  std::vector<std::string> containers;
  std::vector<std::string> inits;
  const Json& spec = pod.contains("spec") ? pod["spec"] : Json::object();
  for (auto [field, out] :
       {std::pair{"containers", &containers}, std::pair{"initContainers", &inits}}) {
    if (spec.contains(field) && spec[field].is_array()) {
      for (const auto& c : spec[field]) out->push_back(common::jsonString(c, "name"));
    }
  }
  auto listOf = [](const std::vector<std::string>& names) {
    std::string list;
    for (const auto& c : names) list += (list.empty() ? "" : " ") + c;
    return "[" + list + "]";
  };
  std::string container = req.queryParam("container").value_or("");
  if (container.empty()) {
    if (containers.size() != 1) {
      return badRequest("a container name must be specified for pod " + name +
                        ", choose one of: " + listOf(containers) +
                        (inits.empty() ? "" : " or one of the init containers: " + listOf(inits)));
    }
    container = containers[0];
  } else if (std::find(containers.begin(), containers.end(), container) == containers.end() &&
             std::find(inits.begin(), inits.end(), container) == inits.end()) {
    return badRequest("container " + container + " is not valid for pod " + name);
  }
  std::string nodeName = common::jsonString(spec, "nodeName");
  if (nodeName.empty() || !node.is_object()) {
    return badRequest("pod " + name + " does not have a host assigned");
  }
  std::string address;
  const Json& status = common::jsonField(node, "status");
  if (status.contains("addresses") && status["addresses"].is_array()) {
    for (const char* type : {"InternalIP", "ExternalIP", "Hostname"}) {
      for (const auto& a : status["addresses"]) {
        if (address.empty() && common::jsonString(a, "type") == type)
          address = common::jsonString(a, "address");
      }
    }
  }
  long long port = 0;
  if (status.contains("daemonEndpoints") && status["daemonEndpoints"].is_object()) {
    const Json& p =
        common::jsonField(common::jsonField(status["daemonEndpoints"], "kubeletEndpoint"), "Port");
    port = p.is_number_integer() ? p.get<long long>() : 0;
  }
  if (address.empty() || port <= 0) {
    return ApiError{502,
                    "InternalError",
                    "node " + nodeName + " does not advertise a kubelet endpoint",
                    "",
                    "",
                    "",
                    {},
                    {}};
  }
  CURL* c = curl_easy_init();
  if (c == nullptr) return ApiError{500, "InternalError", "curl init failed", "", "", "", {}, {}};
  bool v6 = address.find(':') != std::string::npos;
  std::string url = "https://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port) +
                    "/containerLogs/" + escape(c, ns) + "/" + escape(c, name) + "/" +
                    escape(c, container);
  std::string query;
  for (const char* p :
       {"follow", "tailLines", "sinceSeconds", "timestamps", "previous", "limitBytes"}) {
    if (auto v = req.queryParam(p)) {
      query += (query.empty() ? "?" : "&") + std::string(p) + "=" + escape(c, *v);
    }
  }
  url += query;
  StreamState st{&w, 0, c, "", false};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (!kubeletClient.caFile.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, kubeletClient.caFile.c_str());
  } else {
    // Virtual nodes serve self-signed certificates (as kubelets do by default).
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!kubeletClient.certFile.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, kubeletClient.certFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, kubeletClient.keyFile.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  if (st.started) return std::nullopt;  // stream already under way; it just ends
  if (rc != CURLE_OK && code == 0) {
    return ApiError{
        502, "InternalError", "Get \"" + url + "\": " + curl_easy_strerror(rc), "", "", "", {}, {}};
  }
  if (code != 200) {
    return ApiError{
        static_cast<int>(code == 404 ? 404 : 502),
        code == 404 ? "NotFound" : "InternalError",
        st.errorBody.empty() ? "kubelet returned HTTP " + std::to_string(code) : st.errorBody,
        "",
        "",
        "",
        {},
        {}};
  }
  w.send(200, "text/plain", "");  // empty log
  return std::nullopt;
}

}  // namespace skiff::control_plane::apiserver
