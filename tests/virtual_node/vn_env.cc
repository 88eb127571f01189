// See vn_env.h.
#include "tests/virtual_node/vn_env.h"

#include <filesystem>

#include "common/fs.h"

namespace skiff::test {

using common::Json;

common::Status VnEnv::setUp(const std::string& prefix) {
  SKIFF_ASSIGN_OR_RETURN(auto d, TempDir::create(prefix));
  dir_.emplace(std::move(d));
  std::filesystem::create_directories(dir_->file("home"));
  ControlPlaneProcessOptions co;
  co.dataDir = dir_->file("cp");
  co.schedulerAndControllers = true;
  SKIFF_ASSIGN_OR_RETURN(cp_, ControlPlaneProcess::start(co));
  kubectl_.emplace(dir_->file("home"), cp_->adminKubeconfig());
  SKIFF_ASSIGN_OR_RETURN(hub_, FakeHub::start());
  return common::Status::ok();
}

common::Status VnEnv::startVirtualNode(bool deviceMode, std::vector<std::string> extraArgs,
                                       const std::string& nodeName) {
  VirtualNodeProcessOptions vo;
  vo.dir = dir_->file("vn");
  std::filesystem::create_directories(vo.dir);
  vo.kubeconfig = cp_->adminKubeconfig();
  vo.hubAddress = hub_->address();
  vo.hubCaPem = hub_->caPem();
  vo.hubToken = hub_->adminToken();
  vo.nodeName = nodeName;
  vo.nodePerDevice = deviceMode;
  vo.extraArgs = std::move(extraArgs);
  SKIFF_ASSIGN_OR_RETURN(vn_, VirtualNodeProcess::start(vo));
  return common::Status::ok();
}

std::string VnEnv::manifest(const std::string& name, const std::string& yaml) const {
  std::string path = dir_->file(name);
  (void)common::writeFileAtomic(path, yaml);
  return path;
}

common::Result<Json> VnEnv::getJson(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"get"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back("-o");
  a.push_back("json");
  SKIFF_ASSIGN_OR_RETURN(std::string out, kubectl_->ok(a));
  auto j = common::parseJson(out);
  if (!j.isOk()) return common::internalError("kubectl output is not JSON: " + out);
  return std::move(*j);
}

std::vector<std::map<std::string, std::string>> VnEnv::podRows(const std::string& ns) {
  auto out = kubectl_->run({"get", "pods", "-n", ns});
  if (!out.isOk()) return {};
  return parseKubectlTable(out->output).rows;
}

std::vector<Json> VnEnv::pods(const std::string& prefix, const std::string& ns) {
  auto list = getJson({"pods", "-n", ns});
  std::vector<Json> out;
  if (!list.isOk()) return out;
  for (const auto& p : (*list)["items"]) {
    if (p["metadata"].value("name", "").starts_with(prefix)) out.push_back(p);
  }
  return out;
}

std::string VnEnv::diagnostics() {
  std::string s;
  auto pods = kubectl_->run({"get", "pods", "-A", "-o", "wide"});
  if (pods.isOk()) s += "--- kubectl get pods -A -o wide\n" + pods->output;
  auto nodes = kubectl_->run({"get", "nodes", "-o", "wide"});
  if (nodes.isOk()) s += "--- kubectl get nodes -o wide\n" + nodes->output;
  if (vn_)
    s += "--- virtual node log (tail)\n" +
         vn_->logContents().substr(
             vn_->logContents().size() > 6000 ? vn_->logContents().size() - 6000 : 0);
  return s;
}

}  // namespace skiff::test
