// The Kubernetes API as the controllers, the scheduler, the event recorder and the leader
// elector write to it: the seam that lets each of them be unit-tested against an in-memory fake
// that records every action (tests/support/fake_kube_client.h), as sample-controller's tests do
// with a fake clientset. The product implementation is ApiClient (api_client.h), which goes
// through the API server's whole request path in-process.
//
// Contract: every method blocks until the API server answered and is thread-safe. Errors are the
// API's, as codes: NotFound, AlreadyExists, Conflict (stale resourceVersion, failed
// precondition), InvalidArgument (validation), PermissionDenied, Unavailable (not the leader).
// Nothing is retried here: controllers are level-triggered and retry through their work queue.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

using common::Json;
using common::Result;

class Client {
 public:
  virtual ~Client() = default;
  virtual Result<Json> get(const apiserver::ResourceInfo& r, const std::string& ns,
                           const std::string& name) = 0;
  // GET of the collection in ns: the list object ({"items": [...]}, resourceVersion).
  virtual Result<Json> list(const apiserver::ResourceInfo& r, const std::string& ns) = 0;
  // POST to the collection; the answer is the stored object (name from generateName, uid,
  // resourceVersion).
  virtual Result<Json> create(const apiserver::ResourceInfo& r, const std::string& ns,
                              const Json& obj) = 0;
  // PUT of obj (its metadata names it); subresource "", "status" or (namespaces) "finalize".
  virtual Result<Json> update(const apiserver::ResourceInfo& r, const Json& obj,
                              const std::string& subresource) = 0;
  // contentType: application/merge-patch+json, application/strategic-merge-patch+json or
  // application/json-patch+json.
  virtual Result<Json> patch(const apiserver::ResourceInfo& r, const std::string& ns,
                             const std::string& name, const Json& patch,
                             const std::string& contentType, const std::string& subresource) = 0;
  // DELETE with DeleteOptions (gracePeriodSeconds, preconditions, propagationPolicy).
  virtual Result<Json> remove(const apiserver::ResourceInfo& r, const std::string& ns,
                              const std::string& name, const Json& deleteOptions) = 0;
  // DELETE of the collection in ns with DeleteOptions (deletecollection).
  virtual Result<Json> removeCollection(const apiserver::ResourceInfo& r, const std::string& ns,
                                        const Json& deleteOptions) = 0;
  // POST pods/binding.
  virtual common::Status bind(const std::string& ns, const std::string& pod,
                              const std::string& node) = 0;

  // The common forms.
  Result<Json> update(const apiserver::ResourceInfo& r, const Json& obj) {
    return update(r, obj, "");
  }
  Result<Json> patch(const apiserver::ResourceInfo& r, const std::string& ns,
                     const std::string& name, const Json& patch) {
    return this->patch(r, ns, name, patch, "application/merge-patch+json", "");
  }
  Result<Json> remove(const apiserver::ResourceInfo& r, const std::string& ns,
                      const std::string& name) {
    return remove(r, ns, name, Json::object());
  }
};

}  // namespace skiff::control_plane::controllers
