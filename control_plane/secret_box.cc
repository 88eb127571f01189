// AES-256-GCM through OpenSSL's EVP interface.
#include "control_plane/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "common/base64.h"
#include "common/fs.h"

namespace skiff::control_plane {

namespace {
constexpr std::string_view kPrefix = "k8s:enc:aesgcm:v1:skiff:";
constexpr int kNonce = 12;
constexpr int kTag = 16;
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;
}  // namespace

common::Result<std::shared_ptr<SecretBox>> SecretBox::fromKey(std::string rawKey) {
  if (rawKey.size() != 32) {
    return common::invalidArgument("encryption key must be 32 bytes, got " +
                                   std::to_string(rawKey.size()));
  }
  return std::shared_ptr<SecretBox>(new SecretBox(std::move(rawKey)));
}

common::Result<std::shared_ptr<SecretBox>> SecretBox::loadOrCreate(const std::string& keyFile) {
  auto text = common::readFile(keyFile);
  if (text.isOk()) {
    std::string t = *text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    auto raw = common::base64Decode(t);
    if (!raw.isOk()) return raw.status().withContext(keyFile);
    auto box = fromKey(*raw);
    if (!box.isOk()) return box.status().withContext(keyFile);
    return box;
  }
  if (text.status().code() != common::StatusCode::kNotFound) return text.status();
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
    return common::internalError("RAND_bytes failed");
  }
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(keyFile, common::base64Encode(key) + "\n", 0600));
  return fromKey(key);
}

common::Result<std::string> SecretBox::seal(std::string_view plaintext) {
  std::string out(kPrefix);
  unsigned char nonce[kNonce];
  if (RAND_bytes(nonce, kNonce) != 1) return common::internalError("RAND_bytes failed");
  out.append(reinterpret_cast<char*>(nonce), kNonce);
  CtxPtr ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string cipher(plaintext.size(), '\0');
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    return common::internalError("AES-GCM encryption failed");
  }
  int fin = 0;
  unsigned char tag[kTag];
  if (EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()) + len, &fin) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, tag) != 1) {
    return common::internalError("AES-GCM encryption failed");
  }
  out += cipher;
  out.append(reinterpret_cast<char*>(tag), kTag);
  return out;
}

common::Result<std::string> SecretBox::open(std::string_view stored) {
  if (!stored.starts_with(kPrefix)) return std::string(stored);  // written before encryption
  stored.remove_prefix(kPrefix.size());
  if (stored.size() < static_cast<std::size_t>(kNonce + kTag)) {
    return common::internalError("encrypted value is truncated");
  }
  auto nonce = reinterpret_cast<const unsigned char*>(stored.data());
  std::string_view cipher = stored.substr(kNonce, stored.size() - kNonce - kTag);
  std::string tag(stored.substr(stored.size() - kTag));
  CtxPtr ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string plain(cipher.size(), '\0');
  int len = 0;
  int fin = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()),
                        static_cast<int>(cipher.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &fin) !=
          1) {
    return common::internalError(
        "cannot decrypt a stored Secret: wrong encryption key or corrupted data");
  }
  return plain;
}

}  // namespace skiff::control_plane
