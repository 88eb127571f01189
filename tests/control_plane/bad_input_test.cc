// Bad input over HTTPS against skiff-control-plane: every rejected request gets the Status code
// and reason kube-apiserver gives, and stores nothing (the listed state, with resourceVersions,
// is unchanged afterwards). Runs once per store backend (SQLite, etcd).
#include <gtest/gtest.h>

#include <chrono>

#include "common/base64.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/net.h"
#include "common/store/sqlite_store.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/support/etcd.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using common::urlEncode;
using namespace std::chrono_literals;

const char* const kCms = "/api/v1/namespaces/default/configmaps";
const char* const kPods = "/api/v1/namespaces/default/pods";
const char* const kDeploys = "/apis/apps/v1/namespaces/default/deployments";

Json pod(const std::string& name, const Json& spec) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

Json deployment(const std::string& name, const Json& spec) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec", spec}};
}

Json podTemplate(const Json& labels) {
  return {{"metadata", {{"labels", labels}}},
          {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}};
}

class BadInputTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { etcd_.reset(); }

  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("bad-input"));
    dir_.emplace(std::move(dir));
    ControlPlaneProcessOptions o;
    o.dataDir = dir_->file("data");
    if (GetParam() == "etcd") {
      if (!etcd_) {
        SKIFF_ASSERT_OK_AND_ASSIGN(etcd_, EtcdFixture::create());
      }
      o.store = "etcd://" + etcd_->endpoint() + "/bad-input-" + std::to_string(++prefix_);
    }
    SKIFF_ASSERT_OK_AND_ASSIGN(cp_, ControlPlaneProcess::start(o));
    admin_.emplace(cp_->adminClient());
    // Some existing state, so "nothing stored" also means "nothing changed".
    ASSERT_EQ(send("POST", kCms, R"({"metadata":{"name":"existing"},"data":{"a":"1"}})").status,
              201);
    ASSERT_EQ(send("POST", kPods,
                   common::dumpJson(
                       pod("existing", {{"containers", {{{"name", "c"}, {"image", "x:1"}}}}})))
                  .status,
              201);
    before_ = snapshot();
  }

  void TearDown() override {
    if (!cp_) return;
    if (HasFailure()) std::cerr << fileTail(cp_->dataDir() + ".log.1") << "\n";
    EXPECT_EQ(cp_->stop(), 0);
  }

  HttpResponse send(std::string_view method, std::string_view path, std::string_view body = "",
                    std::string_view contentType = "application/json") {
    auto r = admin_->request(method, path, body, contentType);
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? *r : HttpResponse{};
  }

  // Every object of the resources the tests write, with its resourceVersion.
  std::vector<std::string> snapshot() {
    std::vector<std::string> out;
    for (const char* path : {kCms, kPods, kDeploys, "/api/v1/namespaces/default/services",
                             "/api/v1/namespaces", "/api/v1/nodes"}) {
      auto r = send("GET", path);
      auto list = common::parseJson(r.body, SIZE_MAX);
      EXPECT_TRUE(list.isOk() && r.status == 200) << r.body;
      if (!list.isOk()) continue;
      for (const auto& item : (*list)["items"]) {
        out.push_back(std::string(path) + "/" + item["metadata"].value("name", "") + "@" +
                      item["metadata"].value("resourceVersion", ""));
      }
    }
    return out;
  }

  // Asserts r is a Status with the code and reason, and that nothing was stored.
  Json expectStatus(const HttpResponse& r, int code, const std::string& reason) {
    EXPECT_EQ(r.status, code) << r.body;
    auto j = common::parseJson(r.body);
    EXPECT_TRUE(j.isOk()) << r.body;
    if (!j.isOk()) return Json();
    EXPECT_EQ(j->value("kind", ""), "Status") << r.body;
    EXPECT_EQ(j->value("apiVersion", ""), "v1") << r.body;
    EXPECT_EQ(j->value("status", ""), "Failure") << r.body;
    EXPECT_EQ(j->value("code", 0), code) << r.body;
    if (!reason.empty()) {
      EXPECT_EQ(j->value("reason", ""), reason) << r.body;
    }
    EXPECT_FALSE(j->value("message", "").empty()) << r.body;
    EXPECT_EQ(snapshot(), before_) << "a rejected request changed the stored state: " << r.body;
    return *j;
  }

  // 422 Invalid whose causes name `field`.
  void expectInvalid(const HttpResponse& r, const std::string& field) {
    Json s = expectStatus(r, 422, "Invalid");
    bool named = false;
    for (const auto& c : s["details"].value("causes", Json::array())) {
      if (c.value("field", "") == field) named = true;
    }
    EXPECT_TRUE(named) << "no cause for " << field << " in " << r.body;
    EXPECT_NE(s.value("message", "").find(field), std::string::npos) << r.body;
  }

  static inline std::unique_ptr<EtcdFixture> etcd_;
  static inline int prefix_ = 0;
  std::optional<TempDir> dir_;
  std::unique_ptr<ControlPlaneProcess> cp_;
  std::optional<HttpsClient> admin_;
  std::vector<std::string> before_;
};

TEST_P(BadInputTest, UnknownKindsAndResourcesAre404) {
  expectStatus(send("GET", "/api/v1/namespaces/default/widgets"), 404, "NotFound");
  expectStatus(send("POST", "/apis/example.com/v1/namespaces/default/widgets",
                    R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}})"),
               404, "NotFound");
  expectStatus(send("GET", "/apis/apps/v2/namespaces/default/deployments"), 404, "NotFound");
  expectStatus(send("GET", "/api/v1/namespaces/default/configmaps/missing"), 404, "NotFound");
  // Nodes are cluster-scoped: a namespaced path does not exist.
  expectStatus(send("GET", "/api/v1/namespaces/default/nodes"), 404, "NotFound");
  // A body of another kind than the URL's resource.
  expectStatus(send("POST", kCms, R"({"kind":"Widget","apiVersion":"v1","metadata":{"name":"x"}})"),
               400, "BadRequest");
  // Creating in a namespace that does not exist.
  expectStatus(
      send("POST", "/api/v1/namespaces/nowhere/configmaps", R"({"metadata":{"name":"x"}})"), 404,
      "NotFound");
}

TEST_P(BadInputTest, InvalidNamesAre422WithCauses) {
  expectInvalid(send("POST", kCms, R"({"metadata":{"name":"Bad_Name"}})"), "metadata.name");
  expectInvalid(send("POST", kCms, R"({"metadata":{}})"), "metadata.name");
  expectInvalid(send("POST", "/api/v1/namespaces", R"({"metadata":{"name":"a.b"}})"),
                "metadata.name");
  expectInvalid(send("POST", kCms, R"({"metadata":{"name":"ok","labels":{"bad key!":"v"}}})"),
                "metadata.labels");
}

TEST_P(BadInputTest, MissingRequiredFieldsAre422NamingTheField) {
  expectInvalid(send("POST", kPods, common::dumpJson(pod("no-containers", Json::object()))),
                "spec.containers");
  expectInvalid(
      send("POST", kPods, common::dumpJson(pod("no-image", {{"containers", {{{"name", "c"}}}}}))),
      "spec.containers[0].image");
  Json labels = {{"app", "web"}};
  expectInvalid(
      send("POST", kDeploys,
           common::dumpJson(deployment("no-selector", {{"template", podTemplate(labels)}}))),
      "spec.selector");
  expectInvalid(send("POST", kDeploys,
                     common::dumpJson(deployment(
                         "mismatch", {{"selector", {{"matchLabels", {{"app", "other"}}}}},
                                      {"template", podTemplate(labels)}}))),
                "spec.template.metadata.labels");
}

// What kube-apiserver refuses in a pod's volumes, mounts, ports and init containers, with the
// same field paths and cause types; nothing is stored.
TEST_P(BadInputTest, PodVolumesMountsPortsAndInitContainers) {
  auto c = [](const std::string& name, Json extra = Json::object()) {
    Json j = {{"name", name}, {"image", "busybox"}};
    j.update(extra);
    return j;
  };
  expectInvalid(
      send("POST", kPods,
           common::dumpJson(
               pod("mount",
                   {{"containers",
                     {c("a", {{"volumeMounts", {{{"name", "nope"}, {"mountPath", "/x"}}}}})}}}))),
      "spec.containers[0].volumeMounts[0].name");
  expectInvalid(
      send("POST", kPods,
           common::dumpJson(
               pod("size", {{"volumes", {{{"name", "v"}, {"emptyDir", {{"sizeLimit", "-1Gi"}}}}}},
                            {"containers", {c("a")}}}))),
      "spec.volumes[0].emptyDir.sizeLimit");
  expectInvalid(
      send("POST", kPods,
           common::dumpJson(pod("dupvol", {{"volumes",
                                            {{{"name", "v"}, {"emptyDir", Json::object()}},
                                             {{"name", "v"}, {"emptyDir", Json::object()}}}},
                                           {"containers", {c("a")}}}))),
      "spec.volumes[1].name");
  expectInvalid(send("POST", kPods,
                     common::dumpJson(pod("noimage", {{"initContainers", {{{"name", "i"}}}},
                                                      {"containers", {c("a")}}}))),
                "spec.initContainers[0].image");
  expectInvalid(send("POST", kPods,
                     common::dumpJson(
                         pod("dupname", {{"initContainers", {c("a")}}, {"containers", {c("a")}}}))),
                "spec.initContainers[0].name");
  Json hp = {{"ports", {{{"containerPort", 80}, {"hostPort", 8080}}}}};
  Json r = expectStatus(
      send("POST", kPods,
           common::dumpJson(pod("hostport", {{"containers", {c("a", hp), c("b", hp)}}}))),
      422, "Invalid");
  EXPECT_NE(r.dump().find("spec.containers[1].ports[0].hostPort"), std::string::npos) << r.dump();
  EXPECT_NE(r.dump().find("Duplicate value: \\\"TCP//8080\\\""), std::string::npos) << r.dump();
}

TEST_P(BadInputTest, WrongTypesAreRejected) {
  Json labels = {{"app", "web"}};
  expectInvalid(send("POST", kDeploys,
                     common::dumpJson(deployment("three", {{"replicas", "three"},
                                                           {"selector", {{"matchLabels", labels}}},
                                                           {"template", podTemplate(labels)}}))),
                "spec.replicas");
  expectInvalid(send("POST", kPods, common::dumpJson(pod("obj", {{"containers", Json::object()}}))),
                "spec.containers");
  expectInvalid(send("POST", kCms, R"({"metadata":{"name":"num"},"data":{"a":1}})"), "data[a]");
  expectStatus(send("POST", kCms, R"({"metadata":"not-an-object"})"), 400, "BadRequest");
  expectStatus(send("POST", kCms, R"(["an","array"])"), 400, "BadRequest");
  // A binding whose target name is not a string (it used to throw inside the server: 500).
  ASSERT_EQ(send("POST", kPods,
                 common::dumpJson(pod(
                     "bindme", {{"containers", Json::array({{{"name", "c"}, {"image", "x"}}})}})))
                .status,
            201);
  before_ = snapshot();
  expectInvalid(send("POST", std::string(kPods) + "/bindme/binding",
                     R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"bindme"},
                         "target":{"name":5}})"),
                "target.name");
  // Mistyped fields where the server read them itself: 4xx, nothing changed.
  expectStatus(send("PUT", "/api/v1/namespaces/default/finalize",
                    R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"},
                        "spec":5})"),
               400, "BadRequest");
  expectInvalid(send("PUT", "/api/v1/namespaces/default/finalize",
                     R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"},
                         "spec":{"finalizers":[7]}})"),
                "spec.finalizers");
  expectInvalid(send("POST", "/api/v1/namespaces/default/services",
                     R"({"metadata":{"name":"typed"},"spec":{"type":5,
                         "ports":[{"port":80}]}})"),
                "spec.type");
}

TEST_P(BadInputTest, OversizeBodiesAre413) {
  std::string big(3 * 1024 * 1024 + 16, 'x');
  std::string body = R"({"metadata":{"name":"big"},"data":{"k":")" + big + "\"}}";
  auto r = send("POST", kCms, body);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 300);
  auto j = common::parseJson(r.body);
  ASSERT_TRUE(j.isOk()) << r.body.substr(0, 300);
  EXPECT_EQ(j->value("kind", ""), "Status");
  EXPECT_EQ(j->value("code", 0), 413);
  EXPECT_EQ(snapshot(), before_);
  // Below the limit is fine (the limit is the request, not the store).
  std::string ok(1024 * 1024, 'y');
  EXPECT_EQ(send("POST", kCms, R"({"metadata":{"name":"big"},"data":{"k":")" + ok + "\"}}").status,
            201);
}

TEST_P(BadInputTest, MalformedJsonAndPatchesAre400) {
  expectStatus(send("POST", kCms, R"({"metadata":{"name":"x")"), 400, "BadRequest");
  expectStatus(send("POST", kCms, "not json at all"), 400, "BadRequest");
  expectStatus(send("PUT", std::string(kCms) + "/existing", "{"), 400, "BadRequest");
  std::string cm = std::string(kCms) + "/existing";
  expectStatus(send("PATCH", cm, R"({"op":"add","path":"/data/b","value":"2"})",
                    "application/json-patch+json"),
               400, "BadRequest");
  expectStatus(send("PATCH", cm, R"([{"op":"replace","path":"/data/zzz/y","value":"1"}])",
                    "application/json-patch+json"),
               400, "");
  expectStatus(send("PATCH", cm, R"("a string")", "application/merge-patch+json"), 400,
               "BadRequest");
  expectStatus(send("PATCH", cm, R"({"data":)", "application/merge-patch+json"), 400, "BadRequest");
  expectStatus(send("PATCH", std::string(kPods) + "/existing",
                    R"({"spec":{"containers":[{"image":"x:2"}]}})",
                    "application/strategic-merge-patch+json"),
               400, "BadRequest");
  expectStatus(send("PATCH", cm, R"({"data":{"a":"2"}})", "text/plain"), 415,
               "UnsupportedMediaType");
  // A patch that parses but makes the object invalid is 422.
  expectInvalid(send("PATCH", cm, R"({"metadata":{"labels":{"bad key!":"v"}}})",
                     "application/merge-patch+json"),
                "metadata.labels");
}

TEST_P(BadInputTest, StaleUpdatesAndDuplicatesAre409) {
  auto current = common::parseJson(send("GET", std::string(kCms) + "/existing").body);
  ASSERT_TRUE(current.isOk());
  std::string rv = (*current)["metadata"]["resourceVersion"];
  // Someone else writes first …
  Json fresh = *current;
  fresh["data"]["a"] = "2";
  ASSERT_EQ(send("PUT", std::string(kCms) + "/existing", common::dumpJson(fresh)).status, 200);
  before_ = snapshot();
  // … so an update carrying the old resourceVersion conflicts.
  Json stale = *current;
  stale["data"]["a"] = "3";
  Json s = expectStatus(send("PUT", std::string(kCms) + "/existing", common::dumpJson(stale)), 409,
                        "Conflict");
  EXPECT_NE(s.value("message", "").find("the object has been modified"), std::string::npos);
  expectStatus(send("PATCH", std::string(kCms) + "/existing",
                    R"({"metadata":{"resourceVersion":")" + rv + R"("},"data":{"a":"4"}})",
                    "application/merge-patch+json"),
               409, "Conflict");
  Json dup =
      expectStatus(send("POST", kCms, R"({"metadata":{"name":"existing"}})"), 409, "AlreadyExists");
  EXPECT_EQ(dup["details"].value("name", ""), "existing");
  EXPECT_EQ(dup.value("message", ""), "configmaps \"existing\" already exists");
  // Preconditions on delete.
  expectStatus(send("DELETE", std::string(kCms) + "/existing",
                    R"({"preconditions":{"resourceVersion":")" + rv + R"("}})"),
               409, "Conflict");
  // DeleteOptions.dryRun: only ["All"]; a dry run deletes nothing.
  std::string existing = std::string(kCms) + "/existing";
  expectStatus(send("DELETE", existing, R"({"dryRun":["Sometimes"]})"), 422, "Invalid");
  expectStatus(send("DELETE", existing, R"({"dryRun":"All"})"), 400, "BadRequest");
  EXPECT_EQ(send("DELETE", existing, R"({"dryRun":["All"]})").status, 200);
  EXPECT_EQ(send("DELETE", existing + "?dryRun=All").status, 200);
  EXPECT_EQ(
      send("PUT", existing + "?dryRun=All", R"({"metadata":{"name":"existing"},"data":{}})").status,
      200);
  EXPECT_EQ(snapshot(), before_) << "a dry run changed the stored state";
}

TEST_P(BadInputTest, MissingOrWrongCredentialsAndRoles) {
  HttpsClient anonymous = cp_->client("");
  auto r = anonymous.get(kCms);
  ASSERT_TRUE(r.isOk());
  expectStatus(*r, 401, "Unauthorized");
  r = anonymous.post(kCms, {{"metadata", {{"name", "anon"}}}});
  ASSERT_TRUE(r.isOk());
  expectStatus(*r, 401, "Unauthorized");
  HttpsClient wrong = cp_->client("not-a-token");
  r = wrong.post(kCms, {{"metadata", {{"name", "wrong"}}}});
  ASSERT_TRUE(r.isOk());
  expectStatus(*r, 401, "Unauthorized");

  HttpsClient ro = cp_->readOnlyClient();
  auto list = ro.get(kCms);
  ASSERT_TRUE(list.isOk());
  EXPECT_EQ(list->status, 200) << list->body;
  auto get = ro.get(std::string(kCms) + "/existing");
  ASSERT_TRUE(get.isOk());
  EXPECT_EQ(get->status, 200) << get->body;
  auto create = ro.post(kCms, {{"metadata", {{"name", "ro"}}}});
  ASSERT_TRUE(create.isOk());
  Json s = expectStatus(*create, 403, "Forbidden");
  EXPECT_EQ(s.value("message", ""),
            "configmaps is forbidden: User \"read-only\" cannot create resource \"configmaps\" in "
            "API group \"\" in the namespace \"default\"");
  auto del = ro.request("DELETE", std::string(kCms) + "/existing");
  ASSERT_TRUE(del.isOk());
  expectStatus(*del, 403, "Forbidden");
  auto patch = ro.request("PATCH", std::string(kCms) + "/existing", R"({"data":{"a":"9"}})",
                          "application/merge-patch+json");
  ASSERT_TRUE(patch.isOk());
  expectStatus(*patch, 403, "Forbidden");

  // The read-only kubeconfig written to the data dir works the same way through kubectl.
  SKIFF_ASSERT_OK(common::makeDirs(dir_->file("home"), 0700));
  Kubectl kubectl(dir_->file("home"), cp_->readOnlyKubeconfig());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto got, kubectl.run({"get", "cm", "existing"}));
  EXPECT_EQ(got.exitCode, 0) << got.output;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto denied, kubectl.run({"delete", "cm", "existing"}));
  EXPECT_NE(denied.exitCode, 0);
  EXPECT_NE(denied.output.find("Error from server (Forbidden)"), std::string::npos)
      << denied.output;
  EXPECT_EQ(snapshot(), before_);
}

TEST_P(BadInputTest, BadSelectorsAre400) {
  expectStatus(send("GET", std::string(kPods) + "?labelSelector=app%20in%20("), 400, "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?labelSelector=%3D%3Dx"), 400, "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?fieldSelector=spec.image%3Dx"), 400,
               "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?fieldSelector=nonsense"), 400, "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?limit=-1"), 400, "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?limit=2&continue=garbage"), 400, "BadRequest");
  expectStatus(send("GET", std::string(kPods) + "?watch=true&resourceVersion=abc"), 400,
               "BadRequest");
}

TEST_P(BadInputTest, WatchFromACompactedResourceVersionIsGone) {
  auto list = common::parseJson(send("GET", kCms).body);
  ASSERT_TRUE(list.isOk());
  std::int64_t old = std::stoll((*list)["metadata"]["resourceVersion"].get<std::string>());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(
        send("POST", kCms, R"({"metadata":{"name":"later-)" + std::to_string(i) + "\"}}").status,
        201);
  }
  auto latest = common::parseJson(send("GET", kCms).body);
  ASSERT_TRUE(latest.isOk());
  std::int64_t now = std::stoll((*latest)["metadata"]["resourceVersion"].get<std::string>());
  if (GetParam() == "etcd") {
    // etcd's revision is the resourceVersion (one etcd, other prefixes only add gaps).
    SKIFF_ASSERT_OK_AND_ASSIGN(auto r, etcd_->etcdctl({"compact", std::to_string(now)}));
    ASSERT_EQ(r.exitCode, 0) << r.output;
  } else {
    // The SQLite file belongs to the process: compact it while the control plane is down.
    EXPECT_EQ(cp_->stop(), 0);
    {
      common::store::SqliteStoreOptions so;
      so.path = cp_->dataDir() + "/store.db";
      SKIFF_ASSERT_OK_AND_ASSIGN(auto store, common::store::SqliteStore::open(so));
      SKIFF_ASSERT_OK(store->compact(now));
    }
    SKIFF_ASSERT_OK(cp_->restart());
    admin_.emplace(cp_->adminClient());
  }
  before_ = snapshot();
  // Kubernetes answers a too-old watch with 200 and one ERROR event carrying a 410 Status.
  std::vector<std::string> lines;
  auto code = admin_->stream(
      std::string(kCms) + "?watch=true&resourceVersion=" + std::to_string(old),
      [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      },
      5s);
  ASSERT_TRUE(code.isOk()) << code.status();
  EXPECT_EQ(*code, 200);
  ASSERT_EQ(lines.size(), 1u);
  auto ev = common::parseJson(lines[0]);
  ASSERT_TRUE(ev.isOk()) << lines[0];
  EXPECT_EQ(ev->value("type", ""), "ERROR");
  EXPECT_EQ((*ev)["object"].value("kind", ""), "Status");
  EXPECT_EQ((*ev)["object"].value("code", 0), 410);
  EXPECT_EQ((*ev)["object"].value("reason", ""), "Expired");
  // A list continued at a compacted revision is 410 Expired too.
  std::string token =
      common::base64Encode(common::dumpJson(Json{{"rv", old}, {"start", "existing"}}));
  expectStatus(send("GET", std::string(kCms) + "?limit=1&continue=" + urlEncode(token)), 410,
               "Expired");
  // A watch from the current revision still works.
  auto fresh = admin_->stream(
      std::string(kCms) + "?watch=true&timeoutSeconds=1&resourceVersion=" + std::to_string(now),
      [](std::string_view) { return true; }, 5s);
  ASSERT_TRUE(fresh.isOk());
  EXPECT_EQ(*fresh, 200);
  EXPECT_EQ(snapshot(), before_);
}

INSTANTIATE_TEST_SUITE_P(Stores, BadInputTest, ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::test
