// Shared by the HTTPS benchmarks: a keep-alive libcurl client for the control plane, the
// control plane started as a subprocess on a free loopback port, and figure helpers.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace skiff::bench {

struct Target {
  std::string base;
  std::string caFile;
  std::string token;
};

// One keep-alive HTTPS client (libcurl easy handle reused across requests).
class Client {
 public:
  explicit Client(const Target& t);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Returns the HTTP status (0 on transport failure); PATCH bodies are merge patches.
  long request(const char* method, const std::string& path, const std::string& body,
               std::string* out = nullptr);

 private:
  const Target& t_;
  CURL* c_;
  curl_slist* auth_ = nullptr;
  curl_slist* patch_ = nullptr;
};

// skiff-control-plane started on a free 127.0.0.1 port with its data dir under dir.
struct ControlPlane {
  std::optional<test::Subprocess> proc;
  Target target;
  int port = 0;
};
// Starts (or restarts on the same data dir and port when port != 0) the binary with extra
// flags and waits until it accepts connections. nullopt (after printing why) on failure.
std::optional<ControlPlane> startControlPlane(const std::string& bin, const std::string& dir,
                                              const std::vector<std::string>& flags, int port = 0);

double pct(std::vector<double> v, double p);
long rssKb(int pid);
inline std::string check(bool ok) { return ok ? "PASS" : "MISS"; }

}  // namespace skiff::bench
