// The hub's Fleet in-process, without a broker: a fresh SQLite store in a temp dir, a new Ed25519
// signing key, and a sink that keeps each device's newest signed document for simulated agents
// (SimAgent) to apply. For the hub's unit tests and hub_bench's in-process measurements.
// Header-only: users link skiff::hub (the test_hub library does not).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/status.h"
#include "common/store/sqlite_store.h"
#include "common/tls.h"
#include "hub/fleet/fleet.h"
#include "tests/support/process.h"

namespace skiff::test {

// Keeps each device's newest signed document until it is taken.
class KeepingSink final : public hub::fleet::DesiredSink {
 public:
  void submit(hub::fleet::DesiredDoc doc) override {
    std::lock_guard lock(mu_);
    docs_[doc.deviceId] = std::move(doc.payload);
  }
  // The newest document for the device since the last take ("" if none).
  std::string take(const std::string& deviceId) {
    std::lock_guard lock(mu_);
    auto it = docs_.find(deviceId);
    if (it == docs_.end()) return "";
    std::string doc = std::move(it->second);
    docs_.erase(it);
    return doc;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> docs_;
};

struct InProcessFleet {
  TempDir dir;
  std::unique_ptr<common::store::SqliteStore> store;
  std::string signingPublicKeyPem;
  std::unique_ptr<hub::fleet::Fleet> fleet;  // started with the sink given
};

inline Result<InProcessFleet> startInProcessFleet(std::string_view name,
                                                  hub::fleet::DesiredSink& sink) {
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create(name));
  InProcessFleet f{std::move(dir), nullptr, "", nullptr};
  common::store::SqliteStoreOptions so;
  so.path = f.dir.file("store.db");
  SKIFF_ASSIGN_OR_RETURN(f.store, common::store::SqliteStore::open(so));
  hub::fleet::FleetOptions fo;
  fo.store = f.store.get();
  SKIFF_ASSIGN_OR_RETURN(fo.signingKey,
                         common::tls::PrivateKey::generate(common::tls::KeyType::kEd25519));
  SKIFF_ASSIGN_OR_RETURN(f.signingPublicKeyPem, fo.signingKey.publicKeyPem());
  SKIFF_ASSIGN_OR_RETURN(f.fleet, hub::fleet::Fleet::load(std::move(fo)));
  f.fleet->start(sink);
  return f;
}

}  // namespace skiff::test
