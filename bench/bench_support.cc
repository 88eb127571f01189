// Benchmark support implementation.
#include "bench/bench_support.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/fs.h"

namespace skiff::bench {

namespace {
size_t sink(char* p, size_t s, size_t n, void* ud) {
  if (ud != nullptr) static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}
}  // namespace

Client::Client(const Target& t) : t_(t), c_(curl_easy_init()) {
  auth_ = curl_slist_append(nullptr, ("Authorization: Bearer " + t.token).c_str());
  auth_ = curl_slist_append(auth_, "Content-Type: application/json");
  patch_ = curl_slist_append(nullptr, ("Authorization: Bearer " + t.token).c_str());
  patch_ = curl_slist_append(patch_, "Content-Type: application/merge-patch+json");
  curl_easy_setopt(c_, CURLOPT_CAINFO, t.caFile.c_str());
  curl_easy_setopt(c_, CURLOPT_HTTPHEADER, auth_);
  curl_easy_setopt(c_, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c_, CURLOPT_TIMEOUT, 60L);
}

Client::~Client() {
  curl_slist_free_all(auth_);
  curl_slist_free_all(patch_);
  curl_easy_cleanup(c_);
}

long Client::request(const char* method, const std::string& path, const std::string& body,
                     std::string* out) {
  std::string url = t_.base + path;
  curl_easy_setopt(c_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c_, CURLOPT_HTTPHEADER, std::string(method) == "PATCH" ? patch_ : auth_);
  curl_easy_setopt(c_, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c_, CURLOPT_WRITEDATA, out);
  if (body.empty()) {
    curl_easy_setopt(c_, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(c_, CURLOPT_HTTPGET, std::string(method) == "GET" ? 1L : 0L);
    curl_easy_setopt(c_, CURLOPT_CUSTOMREQUEST, method);
  } else {
    curl_easy_setopt(c_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(c_) != CURLE_OK) return 0;
  long code = 0;
  curl_easy_getinfo(c_, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

std::optional<ControlPlane> startControlPlane(const std::string& bin, const std::string& dir,
                                              const std::vector<std::string>& flags, int port) {
  ControlPlane cp;
  if (port == 0) {
    auto p = test::freeLoopbackPort();
    if (!p.isOk()) return std::nullopt;
    port = *p;
  }
  cp.port = port;
  std::string data = dir + "/data";
  test::SubprocessOptions so;
  so.argv = {bin,           "--data-dir", data, "--listen", "127.0.0.1:" + std::to_string(port),
             "--log-level", "warn"};
  so.argv.insert(so.argv.end(), flags.begin(), flags.end());
  so.logFile = dir + "/control-plane.log";
  auto proc = test::Subprocess::start(so);
  if (!proc.isOk()) {
    std::fprintf(stderr, "start: %s\n", proc.status().toString().c_str());
    return std::nullopt;
  }
  cp.proc.emplace(std::move(*proc));
  if (!test::waitForTcp(port, std::chrono::seconds(60)).isOk()) {
    std::fprintf(stderr, "control plane did not start:\n%s\n", cp.proc->logContents().c_str());
    return std::nullopt;
  }
  auto tokens = common::readFile(data + "/tokens.csv");
  std::string token;
  if (tokens.isOk()) {
    auto pos = tokens->find(",admin,");
    auto start = tokens->rfind('\n', pos);
    token = tokens->substr(start == std::string::npos ? 0 : start + 1,
                           pos - (start == std::string::npos ? 0 : start + 1));
  }
  cp.target = Target{"https://127.0.0.1:" + std::to_string(port), data + "/pki/ca.pem", token};
  return cp;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1)))];
}

long rssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

}  // namespace skiff::bench
