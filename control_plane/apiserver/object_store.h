// Kubernetes objects (JSON) persisted in a Store: storage keys, resourceVersion injection,
// uid/creationTimestamp/generateName on create, continue tokens, typed watch events, and
// optional value transformation (encryption at rest for Secrets).
//
// Objects are stored without metadata.resourceVersion; it is the key's modRevision and is
// injected on every read, so it can never disagree with the store. Thread-safe (the Store is).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "common/store/store.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

using common::Json;
using common::Result;
using common::Status;

// Transforms stored bytes (e.g. AES-GCM for Secrets). Thread-safe.
class ValueTransformer {
 public:
  virtual ~ValueTransformer() = default;
  virtual Result<std::string> seal(std::string_view plaintext) = 0;
  virtual Result<std::string> open(std::string_view stored) = 0;
};

struct ObjectListOptions {
  std::size_t limit = 0;
  std::string continueToken;
};

struct ObjectList {
  std::vector<Json> items;
  std::int64_t revision = 0;
  std::string continueToken;   // empty when complete
  std::int64_t remaining = 0;  // remainingItemCount hint (0 if unknown)
};

struct ObjectEvent {
  enum class Type { kAdded, kModified, kDeleted };
  Type type;
  Json object;  // for kDeleted: last state, resourceVersion = the delete's revision
  std::optional<Json> previous;
  std::int64_t revision = 0;
};

class ObjectWatch {
 public:
  virtual ~ObjectWatch() = default;
  // nullopt on timeout; Gone when history was compacted/overflowed; Unavailable on shutdown.
  virtual Result<std::optional<ObjectEvent>> next(std::chrono::milliseconds timeout) = 0;
};

class ObjectStore {
 public:
  ObjectStore(common::store::Store& store, const common::Clock& clock,
              std::shared_ptr<ValueTransformer> secretTransformer = nullptr);

  Result<Json> get(const ResourceInfo& r, const std::string& ns, const std::string& name);
  // ns nullopt = all namespaces (or cluster-scoped).
  Result<ObjectList> list(const ResourceInfo& r, const std::optional<std::string>& ns,
                          const ObjectListOptions& opts = {});
  // Fills metadata.uid, creationTimestamp, name from generateName (retrying on collisions),
  // and returns the stored object with its resourceVersion.
  Result<Json> create(const ResourceInfo& r, Json obj);
  // Replaces the object if its resourceVersion equals expectedRevision (0 = unconditional).
  Result<Json> update(const ResourceInfo& r, Json obj, std::int64_t expectedRevision);
  Result<Json> remove(const ResourceInfo& r, const std::string& ns, const std::string& name,
                      std::int64_t expectedRevision);
  // Read-modify-write: mutate(current) returns the new object (or an error to abort, or
  // std::nullopt to leave it unchanged); retried on conflicts.
  Result<Json> guaranteedUpdate(
      const ResourceInfo& r, const std::string& ns, const std::string& name,
      const std::function<Result<std::optional<Json>>(const Json& current)>& mutate);
  Result<std::unique_ptr<ObjectWatch>> watch(const ResourceInfo& r,
                                             const std::optional<std::string>& ns,
                                             std::int64_t fromRevision);
  Result<std::int64_t> currentRevision();

  common::store::Store& store() { return store_; }
  const common::Clock& clock() const { return clock_; }

  // Decodes a stored value into an object with resourceVersion set (used by watch).
  Result<Json> decode(const ResourceInfo& r, std::string_view value, std::int64_t revision);

 private:
  Result<std::string> encode(const ResourceInfo& r, const Json& obj);
  common::store::Store& store_;
  const common::Clock& clock_;
  std::shared_ptr<ValueTransformer> secretTransformer_;
};

// metadata helpers
std::string metaString(const Json& obj, const char* field);
std::int64_t parseResourceVersion(const Json& obj);  // 0 if absent; -1 if malformed
std::string newUid();
// Kubernetes' 409 Conflict for a write based on an outdated resourceVersion.
Status modifiedConflict(const ResourceInfo& r, const std::string& name);
// Continue token for a list positioned after the key whose suffix (after the list prefix) is
// afterKeySuffix, read at revision.
std::string makeContinueToken(std::int64_t revision, const std::string& afterKeySuffix);

}  // namespace skiff::control_plane::apiserver
