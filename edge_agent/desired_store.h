// DesiredStore: the gate every desired document passes (docs/protocol.md "Desired state") and its
// crash-safe copy in the state directory.
//
// A document is accepted only if its Ed25519 signature verifies against the hub key stored at
// enrollment, it is addressed to this device, and its version is higher than the last accepted
// one (the same version is accepted only as a byte-identical repeat, e.g. the retained copy after
// a reconnect). Everything else is refused with a DesiredError and changes nothing.
//
// Files (state dir): desired.json holds the accepted wire document exactly as signed; on boot it
// is verified again, so a torn, truncated or tampered file is detected (JSON or signature check)
// and never used: it is moved aside to desired.json.corrupt and the agent waits for the hub,
// leaving running containers alone. desired.version holds the version high-water mark and the
// accepted document's hash, so replay protection survives a lost desired.json. Both are written
// with common::writeFileAtomic (write, fsync, rename, fsync dir) before the document is acted on.
//
// Threading: thread-safe (one mutex); offer() blocks on two fsyncs when it accepts.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/protocol/protocol.h"
#include "common/status.h"

namespace skiff::edge_agent {

struct DesiredDecision {
  enum class Kind { kAccepted, kUnchanged, kRefused };
  Kind kind = Kind::kRefused;
  common::protocol::DesiredState document;  // kAccepted / kUnchanged
  common::protocol::DesiredError error;     // kRefused
};

class DesiredStore {
 public:
  DesiredStore(std::string stateDir, std::string deviceId, std::string hubPublicKeyPem);

  // Loads the persisted document. nullopt when there is none or it is unusable (corrupt files
  // are moved aside and logged; loadError() then says why). Call once at boot.
  std::optional<common::protocol::DesiredState> load();
  // Verifies a received payload; persists and returns kAccepted for a new document, kUnchanged
  // for a repeat of the current one, kRefused (with the reason) otherwise. An I/O failure while
  // persisting refuses the document too (reason "Unsupported" is not used for that: "Internal").
  DesiredDecision offer(std::string_view payload);

  std::int64_t appliedVersion() const;
  // The refusal of the latest received document, if it was refused (cleared by an acceptance).
  std::optional<common::protocol::DesiredError> lastError() const;
  // Why load() found nothing usable ("" when it loaded fine or there was nothing).
  std::string loadError() const;

  std::string documentPath() const { return dir_ + "/desired.json"; }
  std::string versionPath() const { return dir_ + "/desired.version"; }

 private:
  void quarantine(const std::string& path, const std::string& why);

  const std::string dir_;
  const std::string deviceId_;
  const std::string hubKey_;
  mutable std::mutex mu_;
  std::int64_t floorVersion_ = 0;  // highest version ever accepted
  std::string floorHash_;          // sha256 of the canonical document at floorVersion_
  bool documentOnDisk_ = false;    // desired.json holds the document at floorVersion_
  std::optional<common::protocol::DesiredError> lastError_;
  std::string loadError_;
};

}  // namespace skiff::edge_agent
