// FakeKubeClient: the controllers' Client seam (control_plane/controllers/client.h) over an
// in-memory object tracker, recording every action — what sample-controller's tests do with a
// fake clientset. A test seeds objects, runs one controller pass, then asserts the exact actions
// (verb, resource, namespace, name, body). Patches go through the API server's own patch code
// (control_plane/apiserver/patch.h), so the fake applies them as the product does.
//
// Semantics kept from the API server: create fills metadata.name from generateName, uid and
// resourceVersion, and refuses an existing name (AlreadyExists); update/patch/remove/bind of a
// missing object is NotFound; writes bump resourceVersion. Not modelled: validation, defaulting,
// graceful deletion, finalizers, admission. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/informer.h"

namespace skiff::test {

struct KubeAction {
  std::string verb;      // get, list, create, update, patch, delete, deletecollection, bind
  std::string resource;  // plural: "pods"
  std::string ns;
  std::string name;         // the stored name (after generateName)
  std::string subresource;  // "", "status", "finalize", "binding"
  common::Json body;        // the object, patch or DeleteOptions sent
};

class FakeKubeClient final : public control_plane::controllers::Client {
 public:
  using ResourceInfo = control_plane::apiserver::ResourceInfo;

  // Puts obj into the tracker without recording an action.
  void seed(const ResourceInfo& r, common::Json obj);
  // The tracked object, if any.
  std::optional<common::Json> object(const ResourceInfo& r, const std::string& ns,
                                     const std::string& name) const;
  // The actions so far, without gets and lists (reads are not what a controller test asserts).
  std::vector<KubeAction> writes() const;
  void clearActions();
  // The next call of verb on resource fails with status (then the fake behaves normally again).
  void failNext(const std::string& verb, const std::string& resource, common::Status status);

  common::Result<common::Json> get(const ResourceInfo& r, const std::string& ns,
                                   const std::string& name) override;
  common::Result<common::Json> list(const ResourceInfo& r, const std::string& ns) override;
  common::Result<common::Json> create(const ResourceInfo& r, const std::string& ns,
                                      const common::Json& obj) override;
  common::Result<common::Json> update(const ResourceInfo& r, const common::Json& obj,
                                      const std::string& subresource) override;
  common::Result<common::Json> patch(const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, const common::Json& patch,
                                     const std::string& contentType,
                                     const std::string& subresource) override;
  common::Result<common::Json> remove(const ResourceInfo& r, const std::string& ns,
                                      const std::string& name,
                                      const common::Json& deleteOptions) override;
  common::Result<common::Json> removeCollection(const ResourceInfo& r, const std::string& ns,
                                                const common::Json& deleteOptions) override;
  common::Status bind(const std::string& ns, const std::string& pod,
                      const std::string& node) override;
  using Client::patch;
  using Client::remove;
  using Client::update;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // resource, ns, name
  Key keyOf(const ResourceInfo& r, const std::string& ns, const std::string& name) const;
  std::optional<common::Status> injectedLocked(const std::string& verb, const std::string& res);
  common::Json storeLocked(const Key& key, common::Json obj);

  mutable std::mutex mu_;
  std::map<Key, common::Json> objects_;
  std::vector<KubeAction> actions_;
  std::map<std::pair<std::string, std::string>, common::Status> failures_;
  long long revision_ = 0;
  long long generated_ = 0;
};

// Seeds obj into client and hands the stored copy (uid, resourceVersion) to inf, as the
// informer's watch would deliver it: how a controller test shows a controller an object.
void seedInformer(FakeKubeClient& client, const control_plane::apiserver::ResourceInfo& r,
                  control_plane::controllers::Informer& inf, const common::Json& obj);

}  // namespace skiff::test
