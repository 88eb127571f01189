// Namespace controller: every namespace gets its "default" ServiceAccount and the
// kube-root-ca.crt ConfigMap (the cluster CA, as kube-controller-manager's root-CA publisher
// writes it, kept current); a namespace being deleted has its contents deleted (every namespaced
// resource), then its "kubernetes" finalizer removed through namespaces/<name>/finalize, which
// removes the namespace. Retries every second until the contents are gone (graceful pod deletion
// may take a while).
#pragma once

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

class NamespaceController final : public Controller {
 public:
  NamespaceController(Client& client, Informer& namespaces, std::string caPem);
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  // Creates `desired` in ns unless it exists; an existing one gets desired's `ownedField`
  // (nullptr: left as it is).
  common::Status ensureObject(const apiserver::ResourceInfo& r, const std::string& ns,
                              const Json& desired, const char* ownedField);
  common::Status ensureDefaultAccount(const std::string& ns);
  common::Status ensureRootCa(const std::string& ns);
  Client& client_;
  Informer& namespaces_;
  std::string caPem_;
};

}  // namespace skiff::control_plane::controllers
