// Podman API service fixture: per-test config files, service lifecycle and cleanup.
#include "tests/support/podman.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "tests/support/http.h"

namespace skiff::test {

using common::Result;
using common::Status;

namespace {

// PIDs of conmon processes whose command line mentions `dir` (the fixture's storage).
std::vector<pid_t> conmonsUnder(const std::string& dir) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = common::readFile(e.path().string() + "/cmdline").valueOr("");
    std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
    if (argv0.substr(argv0.find_last_of('/') + 1) != "conmon") continue;
    if (cmdline.find(dir) == std::string::npos) continue;
    out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Mount points under dir (from /proc/self/mountinfo), deepest first. Field 5 is the mount point,
// with spaces etc. octal-escaped; our temp paths have none.
std::vector<std::string> mountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountPoint;
    fields >> id >> parent >> devno >> root >> mountPoint;
    if (mountPoint.rfind(dir + "/", 0) == 0) out.push_back(mountPoint);
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

Result<std::unique_ptr<PodmanFixture>> PodmanFixture::create(PodmanOptions opts) {
  SKIFF_RETURN_IF_ERROR(findProgram("podman").status());
  SKIFF_RETURN_IF_ERROR(findProgram("runc").status());
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("podman"));
  std::unique_ptr<PodmanFixture> fx(new PodmanFixture(std::move(dir)));
  const TempDir& d = fx->dir_;
  for (const char* sub : {"tmp", "volumes", "graph", "run", "xdg", "config", "net", "events"}) {
    SKIFF_RETURN_IF_ERROR(common::makeDirs(d.file(sub), 0700));
  }
  // static_dir is deliberately left at its default (<graphroot>/libpod): conmon's exit command
  // (`podman container cleanup`) is run with --root, which resets static_dir to that default; a
  // custom static_dir makes cleanup miss the container, leaving it "stopped" instead of "exited",
  // and every /wait then hangs for podman's 20 s conmon timeout. network_config_dir keeps CNI
  // from writing its default network into /etc/cni/net.d.
  auto quoted = [&d](std::string_view sub) { return "\"" + d.file(sub) + "\""; };
  std::string containersConf;
  containersConf += "[containers]\n";
  containersConf += "netns = \"host\"\n";
  containersConf += "cgroupns = \"host\"\n";
  containersConf += "default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n";
  containersConf += "log_driver = \"k8s-file\"\n";
  SKIFF_RETURN_IF_ERROR(fx->allocateNetwork());
  containersConf += "\n[network]\n";
  containersConf += "network_backend = \"cni\"\n";
  containersConf += "network_config_dir = " + quoted("net") + "\n";
  containersConf += "default_network = \"" + fx->network_ + "\"\n";
  containersConf += "\n[engine]\n";
  containersConf += "runtime = \"runc\"\n";
  containersConf += "cgroup_manager = \"cgroupfs\"\n";
  containersConf += "events_logger = \"file\"\n";
  containersConf += "events_logfile_path = " + quoted("events/events.log") + "\n";
  containersConf += "tmp_dir = " + quoted("tmp") + "\n";
  containersConf += "volume_path = " + quoted("volumes") + "\n";
  std::string storageConf;
  storageConf += "[storage]\n";
  storageConf += "driver = \"vfs\"\n";
  storageConf += "graphroot = " + quoted("graph") + "\n";
  storageConf += "runroot = " + quoted("run") + "\n";
  std::string registriesConf = "unqualified-search-registries = []\n";
  for (const auto& r : opts.insecureRegistries) {
    registriesConf += "\n[[registry]]\nlocation = \"" + r + "\"\ninsecure = true\n";
  }
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(d.file("containers.conf"), containersConf));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(d.file("storage.conf"), storageConf));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(d.file("registries.conf"), registriesConf));
  // The podman CLI fails if REGISTRY_AUTH_FILE names a missing file.
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(d.file("auth.json"), "{\"auths\": {}}\n", 0600));

  fx->socketPath_ = d.file("podman.sock");
  fx->env_ = {
      {"CONTAINERS_CONF", d.file("containers.conf")},
      {"CONTAINERS_STORAGE_CONF", d.file("storage.conf")},
      {"CONTAINERS_REGISTRIES_CONF", d.file("registries.conf")},
      {"XDG_RUNTIME_DIR", d.file("xdg")},
      {"XDG_CONFIG_HOME", d.file("config")},
      {"REGISTRY_AUTH_FILE", d.file("auth.json")},
      {"TMPDIR", d.file("tmp")},
  };

  SubprocessOptions so;
  so.argv = {"podman",  "--log-level=info", "system",
             "service", "--time=0",         "unix://" + fx->socketPath_};
  so.env = fx->env_;
  so.logFile = d.file("podman.log");
  so.workDir = d.path();
  SKIFF_ASSIGN_OR_RETURN(Subprocess proc, Subprocess::start(std::move(so)));
  fx->proc_.emplace(std::move(proc));
  const std::string socket = fx->socketPath_;
  SKIFF_RETURN_IF_ERROR(waitForReady(
      *fx->proc_,
      [&socket] {
        HttpRequest req;
        req.url = "http://d/_ping";
        req.unixSocket = socket;
        req.timeout = std::chrono::seconds(2);
        auto r = httpRequest(req);
        return r.isOk() && r->status == 200 && r->body == "OK";
      },
      opts.startTimeout, "podman system service"));
  return fx;
}

PodmanFixture::~PodmanFixture() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-test] podman service log tail (" << dir_.file("podman.log") << "):\n"
              << fileTail(dir_.file("podman.log"), 4096) << "\n";
  }
  stop();
}

Result<CommandResult> PodmanFixture::podman(const std::vector<std::string>& args,
                                            std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"podman"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, env_, timeout);
}

Status PodmanFixture::allocateNetwork() {
  SKIFF_RETURN_IF_ERROR(common::makeDirs("/tmp/skiff-podman-net", 0755));
  for (int n = 0; n < 250; ++n) {
    std::string lockPath = "/tmp/skiff-podman-net/" + std::to_string(n) + ".lock";
    int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;
    }
    networkLock_ = fd;
    network_ = "skf" + std::to_string(n);
    subnet_ = "10.213." + std::to_string(n) + ".0/24";
    // A bridge left by a test that was killed: ours now (we hold its lock).
    (void)runCommand({"ip", "link", "del", network_}, {}, std::chrono::seconds(10));
    std::string prefix = "10.213." + std::to_string(n) + ".";
    common::Json conf = {
        {"cniVersion", "0.4.0"},
        {"name", network_},
        {"plugins",
         common::Json::array(
             {{{"type", "bridge"},
               {"bridge", network_},
               {"isGateway", true},
               {"ipMasq", false},
               {"hairpinMode", true},
               {"ipam",
                {{"type", "host-local"},
                 {"dataDir", dir_.file("cni-ipam")},
                 {"routes", common::Json::array({{{"dst", "0.0.0.0/0"}}})},
                 {"ranges", common::Json::array({common::Json::array(
                                {{{"subnet", subnet_}, {"gateway", prefix + "1"}}})})}}}},
              {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}})}};
    return common::writeFileAtomic(dir_.file("net/" + network_ + ".conflist"),
                                   common::dumpJson(conf));
  }
  return common::unavailable("no free podman test network (250 in use)");
}

void PodmanFixture::releaseNetwork() {
  if (networkLock_ < 0) return;
  (void)runCommand({"ip", "link", "del", network_}, {}, std::chrono::seconds(10));
  ::close(networkLock_);  // releases the lock
  networkLock_ = -1;
}

void PodmanFixture::stop() {
  if (!proc_.has_value()) {
    releaseNetwork();
    return;
  }
  // Containers' conmon processes live in their own sessions: remove them through podman while
  // the storage is still consistent, then stop the service. --depend: a pod's infra container
  // goes after the containers that joined it.
  // Podman removes in parallel and can trip over its own ordering: retry a few times.
  Result<CommandResult> rm = common::internalError("not run");
  for (int attempt = 0; attempt < 4; ++attempt) {
    rm = podman({"rm", "--all", "--force", "--depend", "--time", "0"}, std::chrono::seconds(60));
    if (rm.isOk() && rm->exitCode == 0) break;
  }
  if (!rm.isOk() || rm->exitCode != 0) {
    std::cerr << "[skiff-test] podman rm -af failed: "
              << (rm.isOk() ? rm->output : rm.status().toString()) << "\n";
  }
  (void)podman({"volume", "rm", "--all", "--force"}, std::chrono::seconds(30));
  proc_.reset();
  releaseNetwork();
  // Exec sessions (exec probes, `podman exec`) run under conmon processes of their own, detached
  // from the service; after their container is gone they would linger for minutes.
  // SIGKILL is delivered asynchronously: wait (bounded) until the processes are gone, so a caller
  // that checks right after stop() does not see one still exiting.
  for (int i = 0; i < 200; ++i) {
    auto left = conmonsUnder(dir_.path());
    if (left.empty()) break;
    for (pid_t pid : left) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  unmountLeftovers();
}

std::vector<pid_t> PodmanFixture::leftoverConmons() const { return conmonsUnder(dir_.path()); }

void PodmanFixture::unmountLeftovers() {
  for (const auto& m : mountsUnder(dir_.path())) {
    if (::umount2(m.c_str(), MNT_DETACH) != 0) {
      std::cerr << "[skiff-test] umount " << m << " failed\n";
    }
  }
}

std::string PodmanFixture::logContents() const {
  return common::readFile(dir_.file("podman.log")).valueOr("");
}

Result<DockerStreams> demuxDockerStream(std::string_view data) {
  DockerStreams out;
  std::size_t off = 0;
  while (off < data.size()) {
    if (data.size() - off < 8) return common::invalidArgument("truncated frame header");
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(data[off + i]); };
    unsigned stream = byte(0);
    std::size_t len = (std::size_t{byte(4)} << 24) | (std::size_t{byte(5)} << 16) |
                      (std::size_t{byte(6)} << 8) | std::size_t{byte(7)};
    off += 8;
    if (data.size() - off < len) return common::invalidArgument("truncated frame payload");
    std::string_view payload = data.substr(off, len);
    off += len;
    if (stream == 0 || stream == 1) {
      out.stdoutData.append(payload);
    } else if (stream == 2) {
      out.stderrData.append(payload);
    } else {
      return common::invalidArgument("unknown stream type " + std::to_string(stream));
    }
  }
  return out;
}

}  // namespace skiff::test
