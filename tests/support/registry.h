// RegistryFixture: Debian's docker-registry (distribution v2) on an ephemeral 127.0.0.1 port with
// storage in its own temp dir, pre-loaded with a busybox image. The image is an OCI layout built
// once per test process with umoci from busybox-static's /bin/busybox (no internet needed) and
// pushed with skopeo.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tests/support/process.h"

namespace skiff::test {

struct RegistryOptions {
  std::string tag = "latest";  // pushed by create(); empty: push nothing
  std::chrono::milliseconds startTimeout = std::chrono::seconds(10);
};

class RegistryFixture {
 public:
  // Starts the registry, waits for GET /v2/ == 200, pushes busybox:<opts.tag>.
  static common::Result<std::unique_ptr<RegistryFixture>> create(RegistryOptions opts = {});
  ~RegistryFixture();  // stops the registry; prints its log tail if the current test failed
  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  // Pushes the cached busybox image as busybox:<tag> (additional tags, same digest).
  common::Status pushBusybox(std::string_view tag);
  // "127.0.0.1:<port>/busybox:<tag>"
  std::string imageRef(std::string_view tag = "latest") const;
  // "127.0.0.1:<port>" (what registries.conf / image references use).
  std::string hostPort() const;
  // "http://127.0.0.1:<port>"
  std::string url() const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string logContents() const;

 private:
  RegistryFixture(TempDir dir, int port) : dir_(std::move(dir)), port_(port) {}
  TempDir dir_;
  int port_;
  std::optional<Subprocess> proc_;
};

// Path of an OCI image layout holding busybox (tag "latest"), built on first use and shared by the
// whole test process (removed at exit). Thread-safe.
common::Result<std::string> busyboxOciLayout();

}  // namespace skiff::test
