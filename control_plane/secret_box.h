// Encryption at rest for Secrets: AES-256-GCM (OpenSSL) with a random 96-bit nonce per write.
// Stored form: "k8s:enc:aesgcm:v1:skiff:" + nonce + ciphertext + tag (the prefix names the
// scheme like kube-apiserver's EncryptionConfiguration providers, so a key rotation can add v2).
// Values without the prefix are read as plaintext (data written before encryption was enabled).
#pragma once

#include <string>

#include "control_plane/apiserver/object_store.h"

namespace skiff::control_plane {

class SecretBox final : public apiserver::ValueTransformer {
 public:
  // Loads the 32-byte key (base64 in the file) or creates it (mode 0600) if absent.
  static common::Result<std::shared_ptr<SecretBox>> loadOrCreate(const std::string& keyFile);
  static common::Result<std::shared_ptr<SecretBox>> fromKey(std::string rawKey);

  common::Result<std::string> seal(std::string_view plaintext) override;
  common::Result<std::string> open(std::string_view stored) override;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace skiff::control_plane
