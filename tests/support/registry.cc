// Registry fixture: busybox OCI image build (umoci), docker-registry lifecycle, skopeo pushes.
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>

#include "common/fs.h"
#include "tests/support/http.h"

namespace skiff::test {

using common::Result;
using common::Status;

namespace {

constexpr char kBusyboxSource[] = "/bin/busybox";

// OCI architecture name of this machine (busybox-static is a host binary).
std::string ociArchitecture() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m.rfind("arm", 0) == 0) return "arm";
  return m;
}

// Symlinks every applet to /bin/busybox, as `busybox --install -s /bin` would inside a chroot
// (done from outside so building the image needs no chroot).
Status installApplets(const std::string& rootfs) {
  SKIFF_ASSIGN_OR_RETURN(std::string list, runCommandOk({kBusyboxSource, "--list"}));
  std::istringstream in(list);
  std::string applet;
  std::error_code ec;
  while (std::getline(in, applet)) {
    if (applet.empty() || applet == "busybox") continue;
    std::filesystem::path link = std::filesystem::path(rootfs) / "bin" / applet;
    if (std::filesystem::exists(std::filesystem::symlink_status(link))) continue;
    std::filesystem::create_symlink("busybox", link, ec);
    if (ec) return common::internalError("symlink " + link.string() + ": " + ec.message());
  }
  return Status::ok();
}

Result<std::string> buildBusyboxLayout(const TempDir& dir) {
  const std::string layout = dir.file("oci");
  const std::string bundle = dir.file("bundle");
  const std::string image = layout + ":latest";
  auto umoci = [](std::vector<std::string> args) -> Status {
    args.insert(args.begin(), "umoci");
    return runCommandOk(args).status();
  };
  SKIFF_RETURN_IF_ERROR(umoci({"init", "--layout", layout}));
  SKIFF_RETURN_IF_ERROR(umoci({"new", "--image", image}));
  std::vector<std::string> unpack = {"unpack", "--image", image};
  if (::geteuid() != 0) unpack.push_back("--rootless");
  unpack.push_back(bundle);
  SKIFF_RETURN_IF_ERROR(umoci(unpack));
  const std::string rootfs = bundle + "/rootfs";
  for (const char* d : {"bin", "tmp", "etc", "proc", "sys", "dev"}) {
    SKIFF_RETURN_IF_ERROR(common::makeDirs(rootfs + "/" + d));
  }
  std::error_code ec;
  std::filesystem::copy_file(kBusyboxSource, rootfs + "/bin/busybox",
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return common::internalError(std::string("copy busybox: ") + ec.message());
  std::filesystem::permissions(rootfs + "/bin/busybox", std::filesystem::perms(0755), ec);
  SKIFF_RETURN_IF_ERROR(installApplets(rootfs));
  SKIFF_RETURN_IF_ERROR(umoci({"repack", "--image", image, bundle}));
  SKIFF_RETURN_IF_ERROR(
      umoci({"config", "--image", image, "--config.cmd", "sh", "--config.env",
             "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "--config.workingdir", "/", "--architecture", ociArchitecture(), "--os", "linux"}));
  SKIFF_RETURN_IF_ERROR(umoci({"gc", "--layout", layout}));
  return layout;
}

}  // namespace

Result<std::string> busyboxOciLayout() {
  static std::mutex mu;
  static std::optional<TempDir> dir;  // destroyed (removed) at process exit
  static std::string layout;
  std::lock_guard<std::mutex> lock(mu);
  if (!layout.empty()) return layout;
  SKIFF_RETURN_IF_ERROR(findProgram("umoci").status());
  if (::access(kBusyboxSource, X_OK) != 0) {
    return common::notFound(std::string(kBusyboxSource) +
                            " missing; apt-get install -y --no-install-recommends busybox-static");
  }
  SKIFF_ASSIGN_OR_RETURN(TempDir d, TempDir::create("busybox-oci"));
  auto built = buildBusyboxLayout(d);
  if (!built.isOk()) return built.status().withContext("building busybox OCI image");
  dir.emplace(std::move(d));
  layout = built.value();
  return layout;
}

RegistryFixture::~RegistryFixture() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-test] docker-registry on port " << port_ << " log tail ("
              << dir_.file("registry.log") << "):\n"
              << fileTail(dir_.file("registry.log"), 4096) << "\n";
  }
  proc_.reset();
}

Result<std::unique_ptr<RegistryFixture>> RegistryFixture::create(RegistryOptions opts) {
  SKIFF_RETURN_IF_ERROR(findProgram("docker-registry").status());
  SKIFF_RETURN_IF_ERROR(findProgram("skopeo").status());
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("registry"));
  SKIFF_ASSIGN_OR_RETURN(int port, freeLoopbackPort());
  std::unique_ptr<RegistryFixture> fx(new RegistryFixture(std::move(dir), port));

  const std::string config = fx->dir_.file("config.yml");
  SKIFF_RETURN_IF_ERROR(common::makeDirs(fx->dir_.file("storage")));
  std::string yaml;
  yaml += "version: 0.1\n";
  yaml += "log:\n  level: info\n";
  yaml += "storage:\n";
  yaml += "  filesystem:\n    rootdirectory: " + fx->dir_.file("storage") + "\n";
  yaml += "  delete:\n    enabled: true\n";
  yaml += "http:\n  addr: 127.0.0.1:" + std::to_string(port) + "\n";
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(config, yaml));
  SubprocessOptions so;
  so.argv = {"docker-registry", "serve", config};
  so.logFile = fx->dir_.file("registry.log");
  so.workDir = fx->dir_.path();
  SKIFF_ASSIGN_OR_RETURN(Subprocess proc, Subprocess::start(std::move(so)));
  fx->proc_.emplace(std::move(proc));
  const std::string ping = fx->url() + "/v2/";
  SKIFF_RETURN_IF_ERROR(waitForReady(
      *fx->proc_,
      [&ping] {
        // A short timeout per ping: a connect to a port nobody listens on yet can, rarely,
        // connect to itself (local port == remote port) and would then hang until the timeout.
        HttpRequest req;
        req.url = ping;
        req.timeout = std::chrono::seconds(1);
        auto r = httpRequest(req);
        return r.isOk() && r->status == 200;
      },
      opts.startTimeout, "docker-registry"));
  if (!opts.tag.empty()) SKIFF_RETURN_IF_ERROR(fx->pushBusybox(opts.tag));
  return fx;
}

Status RegistryFixture::pushBusybox(std::string_view tag) {
  SKIFF_ASSIGN_OR_RETURN(std::string layout, busyboxOciLayout());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(dir_.file("auth.json"), "{\"auths\": {}}\n", 0600));
  // Private auth/policy/tmp locations: skopeo must not depend on the host's container config.
  const std::map<std::string, std::string> env = {
      {"REGISTRY_AUTH_FILE", dir_.file("auth.json")},
      {"TMPDIR", dir_.path()},
  };
  auto out =
      runCommandOk({"skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    "--dest-no-creds", "oci:" + layout + ":latest", "docker://" + imageRef(tag)},
                   env, std::chrono::seconds(60));
  if (!out.isOk()) return out.status().withContext("pushing " + imageRef(tag));
  return Status::ok();
}

std::string RegistryFixture::imageRef(std::string_view tag) const {
  return hostPort() + "/busybox:" + std::string(tag);
}

std::string RegistryFixture::hostPort() const { return "127.0.0.1:" + std::to_string(port_); }

std::string RegistryFixture::url() const { return "http://" + hostPort(); }

std::string RegistryFixture::logContents() const {
  return common::readFile(dir_.file("registry.log")).valueOr("");
}

}  // namespace skiff::test
