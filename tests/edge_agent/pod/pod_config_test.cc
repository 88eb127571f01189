// Pod spec → engine configuration and volumes (edge_agent/pod/pod_config.h), the pause image's
// archive (checked with GNU tar, a real reader of the format) and the kubelet's status rules
// (edge_agent/pod/pod_state.h).
#include "edge_agent/pod/pod_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/fs.h"
#include "edge_agent/pod/pause_image.h"
#include "edge_agent/pod/pod_state.h"
#include "tests/mocks/container_engine_mock.h"
#include "tests/support/process.h"

namespace skiff::edge_agent::pod {
namespace {

namespace protocol = common::protocol;
using ::testing::_;
using ::testing::NiceMock;

protocol::PodSpec webPod(const std::string& hostData) {
  protocol::PodSpec p;
  p.name = "web";
  p.deploymentId = "default.web-0123456789";
  p.terminationGracePeriodSeconds = 7;
  protocol::Volume files;
  files.name = "cfg";
  files.kind = protocol::Volume::Kind::kFiles;
  files.files = {{"app.conf", "x=1\n", 0644}, {"sub/secret", "pw", 0600}};
  protocol::Volume shared;
  shared.name = "shared";
  protocol::Volume mem;
  mem.name = "mem";
  mem.medium = "Memory";
  mem.sizeLimitBytes = 1 << 20;
  protocol::Volume dev;
  dev.name = "dev";
  dev.kind = protocol::Volume::Kind::kHostPath;
  dev.hostPath = "/dev/null";  // a character device, like /dev/gpiomem
  protocol::Volume data;
  data.name = "data";
  data.kind = protocol::Volume::Kind::kHostPath;
  data.hostPath = hostData;
  p.volumes = {files, shared, mem, dev, data};
  protocol::ContainerSpec web;
  web.name = "web";
  web.image = "busybox";
  web.command = {"httpd"};
  web.env = {{"A", "1"}};
  web.ports = {{8080, 18080, "TCP", ""}, {53, 0, "UDP", ""}};
  web.resources = {250, 1 << 20};
  web.mounts = {{"cfg", "/etc/app", true, ""}, {"cfg", "/etc/secret", true, "sub/secret"},
                {"shared", "/www", false, ""}, {"shared", "/www-sub", false, "deep/dir"},
                {"mem", "/cache", false, ""},  {"dev", "/dev/gpio", false, ""},
                {"data", "/data", true, ""}};
  protocol::ContainerSpec writer;
  writer.name = "writer";
  writer.image = "busybox";
  writer.mounts = {{"shared", "/out", false, ""}};
  p.containers = {web, writer};
  return p;
}

class PodConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::create("pod-config");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(dir).value());
    ON_CALL(resources_, createVolume(_))
        .WillByDefault([this](const engine::VolumeConfig& c) -> common::Result<engine::VolumeInfo> {
          created_.push_back(c);
          return engine::VolumeInfo{c.name, dir_->file("tmpfs-" + c.name), false};
        });
    ON_CALL(resources_, listVolumes(_))
        .WillByDefault([this](const std::map<std::string, std::string>&) {
          std::set<std::string> names;  // createVolume returns an existing volume
          for (const auto& c : created_) names.insert(c.name);
          return common::Result<std::vector<std::string>>(
              std::vector<std::string>(names.begin(), names.end()));
        });
    ON_CALL(resources_, removeVolume(_)).WillByDefault([this](const std::string& n) {
      removed_.push_back(n);
      return common::Status::ok();
    });
  }
  NiceMock<test::MockEngineResources> resources_;
  std::vector<engine::VolumeConfig> created_;
  std::vector<std::string> removed_;
  std::optional<test::TempDir> dir_;
};

TEST_F(PodConfigTest, VolumesArePodScopedAndSharedByEveryContainer) {
  auto pod = webPod(dir_->path());
  auto v = preparePodVolumes(pod, "dev-1", dir_->path(), resources_);
  ASSERT_TRUE(v.isOk()) << v.status();
  const std::string base = podVolumeRoot(dir_->path(), pod);
  EXPECT_TRUE(base.starts_with(podRoot(dir_->path(), "web") + "/"));
  EXPECT_EQ(v->sources.at("cfg"), base + "/cfg");
  EXPECT_EQ(v->sources.at("shared"), base + "/shared");
  EXPECT_EQ(common::readFile(base + "/cfg/app.conf").value(), "x=1\n");
  struct stat st {};
  ASSERT_EQ(::stat((base + "/cfg/sub/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((base + "/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u);  // the kubelet's emptyDir mode
  // The Memory emptyDir is one engine tmpfs volume for the pod; its size limit, which this
  // engine did not apply, is left to the agent to enforce by usage.
  ASSERT_EQ(created_.size(), 1u);
  EXPECT_TRUE(created_[0].tmpfs);
  EXPECT_EQ(created_[0].sizeBytes, 1 << 20);
  EXPECT_EQ(created_[0].labels.at(std::string(kLabelPod)), "web");
  EXPECT_EQ(v->limits.at("mem").bytes, 1 << 20);
  EXPECT_EQ(v->sources.at("dev"), "/dev/null");

  engine::ImageInfo image{"sha256:1", ""};
  for (const auto& c : pod.containers) {
    auto cfg = memberConfig(pod, c, protocol::ContainerKind::kContainer, "h1", "dev-1", "infra1",
                            *v, image);
    ASSERT_TRUE(cfg.isOk()) << cfg.status();
    // Both containers see the same directory for "shared".
    bool found = false;
    for (const auto& m : cfg->mounts) {
      if (m.source == base + "/shared") found = true;
    }
    EXPECT_TRUE(found) << c.name;
    EXPECT_EQ(cfg->networkMode, "container:infra1");
    EXPECT_TRUE(cfg->ports.empty());
    EXPECT_EQ(cfg->labels.at(std::string(kLabelModule)), "web/" + c.name);
    EXPECT_EQ(cfg->stopTimeoutSeconds, 7);
  }
  auto web = memberConfig(pod, pod.containers[0], protocol::ContainerKind::kContainer, "h1",
                          "dev-1", "infra1", *v, image);
  ASSERT_TRUE(web.isOk());
  EXPECT_EQ(web->name, "skiff-web_web-h1");
  EXPECT_EQ(web->env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(web->nanoCpus, 250000000);
  ASSERT_EQ(web->mounts.size(), 6u);
  EXPECT_EQ(web->mounts[1].source, base + "/cfg/sub/secret");
  EXPECT_EQ(web->mounts[3].source, base + "/shared/deep/dir");
  EXPECT_TRUE(std::filesystem::is_directory(base + "/shared/deep/dir"));
  EXPECT_TRUE(web->mounts[4].volume);  // the engine's tmpfs
  ASSERT_EQ(web->devices.size(), 1u);
  EXPECT_EQ(web->devices[0].hostPath, "/dev/null");

  // The infra container publishes the pod's ports and holds its namespaces.
  InfraImage pause{"localhost/skiff-pause:abc", {"/pause"}};
  auto infra = infraConfig(pod, "sbx", "dev-1", "bridge", pause);
  EXPECT_EQ(infra.networkMode, "bridge");
  EXPECT_EQ(infra.ipcMode, "shareable");
  EXPECT_EQ(infra.hostname, "web");
  ASSERT_EQ(infra.ports.size(), 2u);
  EXPECT_EQ(infra.ports[0].hostPort, 18080);
  EXPECT_EQ(infra.labels.at(std::string(kLabelKind)), "infra");
  pod.hostNetwork = true;
  pod.hostIPC = true;
  auto host = infraConfig(pod, "sbx", "dev-1", "bridge", pause);
  EXPECT_EQ(host.networkMode, "host");
  EXPECT_EQ(host.ipcMode, "host");
  EXPECT_TRUE(host.hostname.empty());

  // Files are rewritten when their content changes; the pod's removal takes everything.
  pod.volumes[0].files[0].content = "x=2\n";
  ASSERT_TRUE(preparePodVolumes(pod, "dev-1", dir_->path(), resources_).isOk());
  EXPECT_EQ(common::readFile(base + "/cfg/app.conf").value(), "x=2\n");
  ASSERT_TRUE(common::writeFileAtomic(base + "/shared/kept", "data").isOk());
  ASSERT_TRUE(preparePodVolumes(pod, "dev-1", dir_->path(), resources_).isOk());
  EXPECT_TRUE(std::filesystem::exists(base + "/shared/kept"));  // emptyDir content stays
  ASSERT_TRUE(removePodVolumes("web", "dev-1", dir_->path(), resources_).isOk());
  EXPECT_FALSE(std::filesystem::exists(podRoot(dir_->path(), "web")));
  EXPECT_EQ(removed_.size(), 1u);
}

TEST_F(PodConfigTest, ARecreatedPodOfTheSameNameStartsWithFreshVolumes) {
  auto pod = webPod(dir_->path());
  ASSERT_TRUE(preparePodVolumes(pod, "dev-1", dir_->path(), resources_).isOk());
  std::string first = podVolumeRoot(dir_->path(), pod);
  ASSERT_TRUE(common::writeFileAtomic(first + "/shared/old", "x").isOk());
  pod.deploymentId = "default.web-9999999999";
  ASSERT_TRUE(preparePodVolumes(pod, "dev-1", dir_->path(), resources_).isOk());
  std::string second = podVolumeRoot(dir_->path(), pod);
  EXPECT_NE(first, second);
  EXPECT_FALSE(std::filesystem::exists(first));
  EXPECT_FALSE(std::filesystem::exists(second + "/shared/old"));
}

TEST_F(PodConfigTest, SecurityContextAndRunAsNonRoot) {
  auto pod = webPod(dir_->path());
  auto v = preparePodVolumes(pod, "dev-1", dir_->path(), resources_);
  ASSERT_TRUE(v.isOk());
  auto config = [&](const engine::ImageInfo& image) {
    return memberConfig(pod, pod.containers[1], protocol::ContainerKind::kContainer, "h", "dev-1",
                        "infra1", *v, image);
  };
  pod.securityContext.runAsNonRoot = true;
  auto msg = [&](const std::string& user) { return config({"sha256:1", user}).status().message(); };
  EXPECT_EQ(
      msg(""),
      "container has runAsNonRoot and image will run as root (pod: \"web\", container: writer)");
  EXPECT_EQ(msg("root"), msg(""));
  EXPECT_EQ(msg("0:0"), msg(""));
  EXPECT_EQ(msg("nobody"),
            "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify "
            "user is non-root (pod: \"web\", container: writer)");
  EXPECT_TRUE(config({"sha256:1", "1000"}).isOk());
  pod.containers[1].securityContext.runAsUser = 0;
  EXPECT_EQ(msg("1000"),
            "container's runAsUser breaks non-root policy (pod: \"web\", container: writer)");
  // The container's settings win over the pod's; runAsGroup alone keeps the image's user.
  pod.containers[1].securityContext.runAsUser.reset();
  pod.securityContext.runAsNonRoot.reset();
  pod.securityContext.runAsGroup = 3000;
  EXPECT_EQ(config({"sha256:1", "nobody"})->user, "nobody:3000");
  EXPECT_EQ(config({"sha256:1", ""})->user, "0:3000");
  pod.securityContext.runAsUser = 1000;
  pod.containers[1].securityContext.runAsUser = 1001;
  pod.securityContext.supplementalGroups = {4000};
  pod.securityContext.fsGroup = 2000;
  pod.securityContext.seccompProfile = "Unconfined";
  auto c = config({"sha256:1", ""});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->user, "1001:3000");
  EXPECT_EQ(c->groupAdd, (std::vector<std::int64_t>{4000, 2000}));
  EXPECT_TRUE(c->seccompUnconfined);
  pod.containers[1].securityContext.seccompProfile = "RuntimeDefault";
  EXPECT_FALSE(config({"sha256:1", ""})->seccompUnconfined);
  pod.shareProcessNamespace = true;
  EXPECT_EQ(config({"sha256:1", ""})->pidMode, "container:infra1");
  pod.hostPID = true;
  EXPECT_EQ(config({"sha256:1", ""})->pidMode, "host");
  pod.containers[1].mounts.push_back({"nope", "/x", false, ""});
  EXPECT_EQ(config({"sha256:1", ""}).status().code(), common::StatusCode::kInvalidArgument);
}

TEST_F(PodConfigTest, FsGroupOwnsTheVolumes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change group ownership";
  auto pod = webPod(dir_->path());
  pod.securityContext.fsGroup = 2345;
  auto v = preparePodVolumes(pod, "dev-1", dir_->path(), resources_);
  ASSERT_TRUE(v.isOk());
  const std::string base = podVolumeRoot(dir_->path(), pod);
  struct stat st {};
  ASSERT_EQ(::stat((base + "/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 2345u);
  EXPECT_TRUE(st.st_mode & S_ISGID);
  ASSERT_EQ(::stat((base + "/cfg/sub/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 2345u);
  EXPECT_EQ(st.st_mode & 0070, 0060u);  // group may read (and write what its owner may)
}

TEST(HashesTest, SandboxAndContainerChangesAreToldApart) {
  auto pod = webPod("/tmp");
  std::string sbx = sandboxHash(pod);
  std::string web = containerHash(pod, pod.containers[0]);
  auto image = pod;
  image.containers[0].image = "busybox:2";
  EXPECT_EQ(sandboxHash(image), sbx);  // a new image: a new container, same sandbox
  EXPECT_NE(containerHash(image, image.containers[0]), web);
  EXPECT_EQ(containerHash(image, image.containers[1]), containerHash(pod, pod.containers[1]));
  auto content = pod;
  content.volumes[0].files[0].content = "changed";
  EXPECT_EQ(sandboxHash(content), sbx);  // files are rewritten in place
  EXPECT_EQ(containerHash(content, content.containers[0]), web);
  for (auto mutate : std::vector<std::function<void(protocol::PodSpec&)>>{
           [](auto& p) { p.hostNetwork = true; },
           [](auto& p) { p.containers[0].ports[0].hostPort = 18081; },
           [](auto& p) {
             p.securityContext.sysctls = {{"net.core.somaxconn", "1024"}};
           },
           [](auto& p) { p.deploymentId = "another"; },
           [](auto& p) { p.initContainers = {p.containers[1]}; }}) {
    auto changed = pod;
    mutate(changed);
    EXPECT_NE(sandboxHash(changed), sbx);
  }
  auto sec = pod;
  sec.securityContext.runAsUser = 5;
  EXPECT_NE(containerHash(sec, sec.containers[0]), web);
}

TEST(PauseImageTest, ArchiveIsAValidTarOfOneExecutable) {
  auto dir = test::TempDir::create("pause-tar");
  ASSERT_TRUE(dir.isOk());
  std::string content(1000, 'x');
  ASSERT_TRUE(
      common::writeFileAtomic(dir->file("a.tar"), ustarWithOneFile("pause", content, 0755)).isOk());
  auto listed = test::runCommand({"tar", "-tvf", dir->file("a.tar")}, {}, std::chrono::seconds(10));
  ASSERT_TRUE(listed.isOk());
  EXPECT_EQ(listed->exitCode, 0) << listed->output;
  EXPECT_NE(listed->output.find("-rwxr-xr-x root/root      1000"), std::string::npos)
      << listed->output;
  EXPECT_NE(listed->output.find(" pause\n"), std::string::npos);
  auto extracted = test::runCommand({"tar", "-xf", dir->file("a.tar"), "-C", dir->path()}, {},
                                    std::chrono::seconds(10));
  ASSERT_TRUE(extracted.isOk());
  EXPECT_EQ(common::readFile(dir->file("pause")).value(), content);
  EXPECT_EQ(ustarWithOneFile("p", "", 0755).size(), 512u + 1024u);
  EXPECT_EQ(ustarWithOneFile("p", std::string(512, 'y'), 0755).size(), 1024u + 1024u);
}

TEST(PauseImageTest, ImportsTheBinaryOnceUnderAContentTag) {
  auto dir = test::TempDir::create("pause-import");
  ASSERT_TRUE(dir.isOk());
  ASSERT_TRUE(common::writeFileAtomic(dir->file("skiff-pause"), "binary-v1", 0755).isOk());
  NiceMock<test::MockContainerEngine> engine;
  NiceMock<test::MockEngineResources> resources;
  std::set<std::string> present;
  ON_CALL(engine, ensureImage(_, _, _))
      .WillByDefault([&](const std::string& ref, protocol::PullPolicy,
                         const engine::RegistryAuth*) -> common::Result<engine::ImageInfo> {
        if (!present.contains(ref)) return common::notFound("no such image");
        return engine::ImageInfo{"sha256:p", ""};
      });
  int imports = 0;
  ON_CALL(resources, importImage(_, _))
      .WillByDefault(
          [&](const std::string& ref, const std::string& tar) -> common::Result<std::string> {
            ++imports;
            EXPECT_NE(tar.find("binary-v1"), std::string::npos);
            present.insert(ref);
            return std::string("sha256:p");
          });
  PauseImage pause(engine, resources, dir->file("skiff-pause"), "");
  auto a = pause.ensure();
  ASSERT_TRUE(a.isOk()) << a.status();
  EXPECT_TRUE(a->reference.starts_with("localhost/skiff-pause:"));
  EXPECT_EQ(a->entrypoint, std::vector<std::string>{"/pause"});
  ASSERT_TRUE(pause.ensure().isOk());
  EXPECT_EQ(imports, 1);
  present.clear();  // pruned by someone: remembered until the sandbox's create says so ...
  ASSERT_TRUE(pause.ensure().isOk());
  EXPECT_EQ(imports, 1);
  pause.forget();  // ... then imported again
  ASSERT_TRUE(pause.ensure().isOk());
  EXPECT_EQ(imports, 2);
  PauseImage missing(engine, resources, dir->file("nope"), "");
  EXPECT_EQ(missing.ensure().status().code(), common::StatusCode::kNotFound);
  PauseImage custom(engine, resources, "", "registry.example/pause:3.9");
  present.insert("registry.example/pause:3.9");
  auto c = custom.ensure();
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->reference, "registry.example/pause:3.9");
  EXPECT_TRUE(c->entrypoint.empty());
}

// ---- Status rules ---------------------------------------------------------------------------

class PodStateTest : public ::testing::Test {
 protected:
  PodRecord record(protocol::RestartPolicy policy, int inits, int sidecars, int apps) {
    protocol::PodSpec p;
    p.name = "p";
    p.restartPolicy = policy;
    for (int i = 0; i < inits; ++i)
      p.initContainers.push_back({.name = "i" + std::to_string(i), .image = "x"});
    for (int i = 0; i < sidecars; ++i) {
      protocol::ContainerSpec s{.name = "s" + std::to_string(i), .image = "x"};
      s.restartPolicy = protocol::RestartPolicy::kAlways;
      p.initContainers.push_back(s);
    }
    for (int i = 0; i < apps; ++i)
      p.containers.push_back({.name = "a" + std::to_string(i), .image = "x"});
    PodRecord r;
    applySpec(r, p, {});
    return r;
  }
  static void run(ContainerRecord& c, bool ready = true) {
    c.containerId = "id-" + c.spec.name;
    c.status.state = protocol::ModuleState::kRunning;
    c.status.started = true;
    c.status.ready = ready;
    c.status.reason.clear();
  }
  static void exit(ContainerRecord& c, int code) {
    c.containerId = "id-" + c.spec.name;
    c.status.state = protocol::ModuleState::kTerminated;
    c.status.exitCode = code;
    c.status.started = false;
    c.status.ready = false;
  }
};

TEST_F(PodStateTest, NotCreatedContainersWaitWithTheKubeletsReasons) {
  auto plain = record(protocol::RestartPolicy::kAlways, 0, 0, 1);
  EXPECT_EQ(plain.containers.at("a0").status.reason, "ContainerCreating");
  EXPECT_EQ(plain.containers.at("a0").status.name, "p/a0");
  auto init = record(protocol::RestartPolicy::kAlways, 1, 0, 1);
  EXPECT_EQ(init.containers.at("a0").status.reason, "PodInitializing");
  EXPECT_EQ(init.containers.at("i0").status.reason, "PodInitializing");
  EXPECT_EQ(init.containers.at("i0").status.kind, protocol::ContainerKind::kInit);
  computePodConditions(init);
  EXPECT_EQ(init.status.phase, "Pending");
  EXPECT_FALSE(init.status.initialized);
  EXPECT_FALSE(init.status.ready);
}

TEST_F(PodStateTest, PhaseFollowsGetPhase) {
  auto r = record(protocol::RestartPolicy::kNever, 1, 1, 2);
  run(r.containers.at("i0"));
  computePodConditions(r);
  EXPECT_EQ(r.status.phase, "Pending");  // an init container runs
  exit(r.containers.at("i0"), 0);
  run(r.containers.at("s0"));
  computePodConditions(r);
  EXPECT_TRUE(r.status.initialized);
  EXPECT_EQ(r.status.phase, "Pending");  // the app containers wait
  run(r.containers.at("a0"));
  run(r.containers.at("a1"), false);
  computePodConditions(r);
  EXPECT_EQ(r.status.phase, "Running");
  EXPECT_FALSE(r.status.ready);
  run(r.containers.at("a1"));
  computePodConditions(r);
  EXPECT_TRUE(r.status.ready);
  exit(r.containers.at("a0"), 0);
  computePodConditions(r);
  EXPECT_EQ(r.status.phase, "Running");  // a1 and the sidecar still run
  exit(r.containers.at("a1"), 2);
  exit(r.containers.at("s0"), 143);  // stopped after the apps
  computePodConditions(r);
  EXPECT_EQ(r.status.phase, "Failed");
  auto ok = record(protocol::RestartPolicy::kOnFailure, 0, 0, 1);
  exit(ok.containers.at("a0"), 0);
  computePodConditions(ok);
  EXPECT_EQ(ok.status.phase, "Succeeded");
  auto always = record(protocol::RestartPolicy::kAlways, 0, 0, 1);
  exit(always.containers.at("a0"), 0);
  computePodConditions(always);
  EXPECT_EQ(always.status.phase, "Running");  // it will be restarted
  auto initFailed = record(protocol::RestartPolicy::kNever, 1, 0, 1);
  exit(initFailed.containers.at("i0"), 1);
  computePodConditions(initFailed);
  EXPECT_EQ(initFailed.status.phase, "Failed");
  auto initLoop = record(protocol::RestartPolicy::kAlways, 1, 0, 1);
  auto& i0 = initLoop.containers.at("i0");
  setWaiting(i0.status, "CrashLoopBackOff", "back-off");
  i0.status.lastTermination = protocol::Termination{1, "Error", "", ""};
  computePodConditions(initLoop);
  EXPECT_EQ(initLoop.status.phase, "Pending");
  // Terminal phases stay.
  ok.terminal = true;
  ok.containers.at("a0").status.state = protocol::ModuleState::kWaiting;
  computePodConditions(ok);
  EXPECT_EQ(ok.status.phase, "Succeeded");
}

TEST_F(PodStateTest, ANewSpecKeepsUnchangedContainersAndRestoresPersistedCounts) {
  auto r = record(protocol::RestartPolicy::kAlways, 0, 0, 2);
  r.containers.at("a0").status.restartCount = 4;
  r.containers.at("a1").status.restartCount = 2;
  auto spec = *r.spec;
  spec.containers[1].image = "y";
  applySpec(r, spec, {});
  EXPECT_EQ(r.containers.at("a0").status.restartCount, 4);
  EXPECT_EQ(r.containers.at("a1").status.restartCount, 0);  // a new container
  PodRecord fresh;
  std::map<std::string, PersistedContainer> persisted = {
      {"p/a1", {containerHash(spec, spec.containers[1]), 9, std::nullopt}}};
  applySpec(fresh, spec, persisted);
  EXPECT_EQ(fresh.containers.at("a1").status.restartCount, 9);
  spec.containers.pop_back();
  applySpec(r, spec, {});
  EXPECT_EQ(r.containers.count("a1"), 0u);
}

}  // namespace
}  // namespace skiff::edge_agent::pod
