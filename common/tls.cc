// OpenSSL 3 adapters behind common/tls.h: key/cert/CSR parsing and encoding, the CA toolkit and
// SSL_CTX configuration. Every OpenSSL handle is owned by a smart pointer with its free function;
// every OpenSSL failure drains the thread's error queue into the returned Status message.
// Over 800 lines on purpose: it is the one adapter of one C library (docs/conventions.md #4),
// and no OpenSSL handle type leaves it.
#include "common/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>
#include <filesystem>

namespace skiff::common::tls {
namespace {

// Certificates are backdated so that peers whose clocks run slightly behind ours (common on edge
// devices without RTC) accept a freshly issued certificate.
constexpr long kClockSkewSeconds = 5 * 60;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using BioPtr = Owned<BIO, BIO_free_all>;
using BignumPtr = Owned<BIGNUM, BN_free>;
using Asn1IntegerPtr = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using GeneralNamesPtr = Owned<GENERAL_NAMES, GENERAL_NAMES_free>;
using StorePtr = Owned<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Owned<X509_STORE_CTX, X509_STORE_CTX_free>;
using ExtensionPtr = Owned<X509_EXTENSION, X509_EXTENSION_free>;

void freeExtensionStack(STACK_OF(X509_EXTENSION) * exts) {
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}
using ExtensionStackPtr = Owned<STACK_OF(X509_EXTENSION), freeExtensionStack>;

std::shared_ptr<EVP_PKEY> ownKey(EVP_PKEY* k) { return {k, EVP_PKEY_free}; }
std::shared_ptr<X509> ownCert(X509* c) { return {c, X509_free}; }
std::shared_ptr<X509_REQ> ownReq(X509_REQ* r) { return {r, X509_REQ_free}; }

// Drains the OpenSSL error queue of this thread, so stale errors never leak into a later message.
std::string drainErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string withErrors(std::string msg) {
  std::string errors = drainErrors();
  if (!errors.empty()) msg += " (" + errors + ")";
  return msg;
}

Status opensslInternal(std::string what) { return internalError(withErrors(std::move(what))); }

BioPtr memBuf(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

Result<std::string> bioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return opensslInternal("reading memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

// Writes obj with a PEM_write_bio_* style function into a string.
template <typename Fn>
Result<std::string> writePem(std::string_view what, Fn&& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return opensslInternal("allocating memory BIO");
  if (write(bio.get()) != 1) return opensslInternal(std::string(what) + ": PEM encoding failed");
  return bioContents(bio.get());
}

// Parses one PEM object; an empty input or a parse failure is the caller's fault.
template <typename T, typename Fn>
Result<T*> readPem(std::string_view what, std::string_view pem, Fn&& read) {
  ERR_clear_error();
  if (pem.empty()) return invalidArgument(std::string(what) + ": empty PEM");
  BioPtr bio = memBuf(pem);
  if (!bio) return opensslInternal("allocating memory BIO");
  T* obj = read(bio.get());
  if (obj == nullptr) return invalidArgument(withErrors(std::string(what) + ": not valid PEM"));
  return obj;
}

bool isEd25519(EVP_PKEY* key) { return EVP_PKEY_is_a(key, "ED25519") == 1; }

// Ed25519 signs the message itself (no pre-hash), so the digest must be NULL; everything else we
// produce is ECDSA over SHA-256.
const EVP_MD* digestFor(EVP_PKEY* key) { return isEd25519(key) ? nullptr : EVP_sha256(); }

Result<MdCtxPtr> signContext(EVP_PKEY* key) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return opensslInternal("allocating digest context");
  if (EVP_DigestSignInit(ctx.get(), nullptr, digestFor(key), nullptr, key) != 1) {
    return opensslInternal("initialising signature");
  }
  return ctx;
}

std::string nameEntry(const X509_NAME* name, int nid) {
  if (name == nullptr) return "";
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    drainErrors();
    return "";
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

Status addNameEntry(X509_NAME* name, int nid, std::string_view value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return invalidArgument(
        withErrors("subject: invalid name entry \"" + std::string(value) + "\""));
  }
  return Status::ok();
}

std::chrono::system_clock::time_point asn1TimeToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    drainErrors();
    return {};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string toHex(const unsigned char* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

// Builds a subjectAltName value from DNS names and textual IP addresses. Built structurally rather
// than through the "DNS:a,DNS:b" config syntax so that a name containing ',' cannot inject entries.
Result<GeneralNamesPtr> makeSubjectAltNames(const std::vector<std::string>& dnsNames,
                                            const std::vector<std::string>& ipAddresses) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return opensslInternal("allocating subjectAltName");
  auto push = [&](int type, ASN1_STRING* value) -> Status {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_STRING_free(value);
      return opensslInternal("allocating subjectAltName entry");
    }
    GENERAL_NAME_set0_value(gn, type, value);
    if (sk_GENERAL_NAME_push(names.get(), gn) <= 0) {
      GENERAL_NAME_free(gn);
      return opensslInternal("adding subjectAltName entry");
    }
    return Status::ok();
  };
  for (const std::string& dns : dnsNames) {
    if (dns.empty()) return invalidArgument("subjectAltName: empty DNS name");
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    if (ia5 == nullptr || ASN1_STRING_set(ia5, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(ia5);
      return opensslInternal("encoding DNS name");
    }
    SKIFF_RETURN_IF_ERROR(push(GEN_DNS, ia5));
  }
  for (const std::string& ip : ipAddresses) {
    unsigned char buf[16];
    int len = 0;
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
      len = 4;
    } else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
      len = 16;
    } else {
      return invalidArgument("subjectAltName: \"" + ip + "\" is not an IP address");
    }
    ASN1_OCTET_STRING* oct = ASN1_OCTET_STRING_new();
    if (oct == nullptr || ASN1_OCTET_STRING_set(oct, buf, len) != 1) {
      ASN1_OCTET_STRING_free(oct);
      return opensslInternal("encoding IP address");
    }
    SKIFF_RETURN_IF_ERROR(push(GEN_IPADD, oct));
  }
  return names;
}

// Adds an extension written in OpenSSL's config syntax; ctx carries issuer/subject for the
// key-identifier extensions.
Status addConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext) return opensslInternal(std::string("creating extension ") + OBJ_nid2sn(nid));
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return opensslInternal(std::string("adding extension ") + OBJ_nid2sn(nid));
  }
  return Status::ok();
}

// 128 random bits make serials unguessable and collision-free without keeping CA state. BN_bin2bn
// yields a non-negative number, so DER needs at most 17 octets (RFC 5280 allows 20).
Status setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return opensslInternal("generating serial number");
  BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn) return opensslInternal("encoding serial number");
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return opensslInternal("setting serial number");
  }
  return Status::ok();
}

Status setValidity(X509* cert, std::chrono::seconds validity) {
  if (validity.count() <= 0) return invalidArgument("certificate: validity must be positive");
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -kClockSkewSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(validity.count())) == nullptr) {
    return opensslInternal("setting validity period");
  }
  return Status::ok();
}

Status signCertificate(X509* cert, EVP_PKEY* key) {
  SKIFF_ASSIGN_OR_RETURN(MdCtxPtr ctx, signContext(key));
  if (X509_sign_ctx(cert, ctx.get()) <= 0) return opensslInternal("signing certificate");
  return Status::ok();
}

// --- SSL_CTX helpers ---

// The ALPN select callback needs the server's protocol list for as long as the SSL_CTX lives;
// it is kept in the context's ex_data and freed by OpenSSL together with the context.
void freeAlpnList(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

int alpnExIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freeAlpnList);
  return index;
}

int selectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* /*arg*/) {
  const auto* wire =
      static_cast<const std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpnExIndex()));
  // An empty list means the server speaks no ALPN protocol: never select one.
  if (wire == nullptr || wire->empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  unsigned char selectedLen = 0;
  // Server preference order. On no overlap SSL_select_next_proto still points at a client
  // protocol; we must not echo it, so the answer is "no ALPN" instead of a fatal alert, letting
  // clients that offer e.g. only h2 fall back to HTTP/1.1 semantics.
  if (SSL_select_next_proto(
          &selected, &selectedLen, reinterpret_cast<const unsigned char*>(wire->data()),
          static_cast<unsigned int>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  *outlen = selectedLen;
  return SSL_TLSEXT_ERR_OK;
}

Status setAlpn(SSL_CTX* ctx, const std::vector<std::string>& protocols) {
  auto wire = std::make_unique<std::string>();
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) {
      return invalidArgument("tls: ALPN protocol \"" + p + "\" must be 1..255 bytes");
    }
    wire->push_back(static_cast<char>(p.size()));
    wire->append(p);
  }
  int index = alpnExIndex();
  if (index < 0) return opensslInternal("tls: allocating ALPN ex_data index");
  // Reconfiguring a context replaces the list; the old one is ours to free.
  auto* old = static_cast<std::string*>(SSL_CTX_get_ex_data(ctx, index));
  if (SSL_CTX_set_ex_data(ctx, index, wire.get()) != 1) {
    return opensslInternal("tls: storing ALPN protocols");
  }
  wire.release();
  delete old;
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  return Status::ok();
}

Status requireFile(std::string_view what, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return notFound("tls: " + std::string(what) + " " + path + " does not exist");
  }
  return Status::ok();
}

Status loadCertAndKey(SSL_CTX* ctx, const TlsFiles& files) {
  SKIFF_RETURN_IF_ERROR(requireFile("certificate file", files.certFile));
  SKIFF_RETURN_IF_ERROR(requireFile("key file", files.keyFile));
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.certFile.c_str()) != 1) {
    return invalidArgument(withErrors("tls: loading certificate chain " + files.certFile));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    return invalidArgument(withErrors("tls: loading private key " + files.keyFile));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return invalidArgument(withErrors("tls: private key " + files.keyFile +
                                      " does not match certificate " + files.certFile));
  }
  return Status::ok();
}

Status loadCa(SSL_CTX* ctx, const std::string& caFile) {
  SKIFF_RETURN_IF_ERROR(requireFile("CA file", caFile));
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, caFile.c_str(), nullptr) != 1) {
    return invalidArgument(withErrors("tls: loading CA file " + caFile));
  }
  return Status::ok();
}

Status setMinVersion(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return opensslInternal("tls: setting minimum protocol version");
  }
  return Status::ok();
}

}  // namespace

// --- PrivateKey ---

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* raw = type == KeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (raw == nullptr) return opensslInternal("private key: generation failed");
  PrivateKey key;
  key.key_ = ownKey(raw);
  return key;
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem) {
  SKIFF_ASSIGN_OR_RETURN(EVP_PKEY * raw, readPem<EVP_PKEY>("private key", pem, [](BIO* bio) {
                           return PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
                         }));
  PrivateKey key;
  key.key_ = ownKey(raw);
  return key;
}

Result<std::string> PrivateKey::toPem() const {
  if (!key_) return invalidArgument("private key: empty");
  return writePem("private key", [&](BIO* bio) {
    return PEM_write_bio_PKCS8PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<std::string> PrivateKey::publicKeyPem() const {
  if (!key_) return invalidArgument("private key: empty");
  return writePem("public key", [&](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key_.get()); });
}

Result<std::string> PrivateKey::sign(std::string_view data) const {
  if (!key_) return invalidArgument("private key: empty");
  ERR_clear_error();
  SKIFF_ASSIGN_OR_RETURN(MdCtxPtr ctx, signContext(key_.get()));
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return opensslInternal("sign: sizing signature");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1) {
    return opensslInternal("sign: signing");
  }
  sig.resize(len);  // ECDSA DER signatures vary in length
  return sig;
}

Status verifySignature(std::string_view publicKeyPem, std::string_view data,
                       std::string_view signature) {
  SKIFF_ASSIGN_OR_RETURN(EVP_PKEY * raw, readPem<EVP_PKEY>("public key", publicKeyPem, [](BIO* b) {
                           return PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr);
                         }));
  std::shared_ptr<EVP_PKEY> key = ownKey(raw);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return opensslInternal("allocating digest context");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(key.get()), nullptr, key.get()) != 1) {
    return opensslInternal("verify: initialising");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  // A malformed signature (e.g. truncated DER) is reported as an error rather than 0; either way
  // the data is not authenticated by this key.
  drainErrors();
  if (rc != 1) return permissionDenied("signature: verification failed");
  return Status::ok();
}

// --- Certificate ---

Result<Certificate> Certificate::fromPem(std::string_view pem) {
  SKIFF_ASSIGN_OR_RETURN(X509 * raw, readPem<X509>("certificate", pem, [](BIO* bio) {
                           return PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
                         }));
  Certificate cert;
  cert.cert_ = ownCert(raw);
  return cert;
}

Result<std::vector<Certificate>> Certificate::bundleFromPem(std::string_view pem) {
  ERR_clear_error();
  if (pem.empty()) return invalidArgument("certificate bundle: empty PEM");
  BioPtr bio = memBuf(pem);
  if (!bio) return opensslInternal("allocating memory BIO");
  std::vector<Certificate> out;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    Certificate cert;
    cert.cert_ = ownCert(raw);
    out.push_back(std::move(cert));
  }
  // Running out of PEM blocks ends the loop with "no start line"; anything else (a truncated or
  // corrupt block) means the bundle is broken and must not be silently shortened.
  unsigned long err = ERR_peek_last_error();
  bool cleanEnd =
      err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
  if (!cleanEnd || out.empty()) {
    return invalidArgument(withErrors("certificate bundle: not valid PEM after " +
                                      std::to_string(out.size()) + " certificate(s)"));
  }
  drainErrors();
  return out;
}

Result<std::string> Certificate::toPem() const {
  if (!cert_) return invalidArgument("certificate: empty");
  return writePem("certificate", [&](BIO* bio) { return PEM_write_bio_X509(bio, cert_.get()); });
}

std::string Certificate::subjectCommonName() const {
  return cert_ ? nameEntry(X509_get_subject_name(cert_.get()), NID_commonName) : "";
}

std::string Certificate::issuerCommonName() const {
  return cert_ ? nameEntry(X509_get_issuer_name(cert_.get()), NID_commonName) : "";
}

std::vector<std::string> Certificate::dnsNames() const {
  std::vector<std::string> out;
  if (!cert_) return out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = gn->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

std::vector<std::string> Certificate::ipAddresses() const {
  std::vector<std::string> out;
  if (!cert_) return out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_IPADD) continue;
    const unsigned char* bytes = ASN1_STRING_get0_data(gn->d.iPAddress);
    int len = ASN1_STRING_length(gn->d.iPAddress);
    char buf[INET6_ADDRSTRLEN] = {};
    int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : AF_UNSPEC;
    if (family != AF_UNSPEC && inet_ntop(family, bytes, buf, sizeof(buf)) != nullptr) {
      out.emplace_back(buf);
    }
  }
  return out;
}

std::chrono::system_clock::time_point Certificate::notBefore() const {
  return cert_ ? asn1TimeToTimePoint(X509_get0_notBefore(cert_.get()))
               : std::chrono::system_clock::time_point{};
}

std::chrono::system_clock::time_point Certificate::notAfter() const {
  return cert_ ? asn1TimeToTimePoint(X509_get0_notAfter(cert_.get()))
               : std::chrono::system_clock::time_point{};
}

std::string Certificate::serialHex() const {
  if (!cert_) return "";
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (!bn) {
    drainErrors();
    return "";
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    drainErrors();
    return "";
  }
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return toHex(md, len);
}

std::string Certificate::fingerprintSha256() const {
  if (!cert_) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), md, &len) != 1) {
    drainErrors();
    return "";
  }
  return toHex(md, len);
}

bool Certificate::isCa() const {
  // EXFLAG_CA is set only for basicConstraints CA:TRUE, unlike X509_check_ca which also accepts
  // legacy v1 self-signed roots.
  return cert_ && (X509_get_extension_flags(cert_.get()) & EXFLAG_CA) != 0;
}

// --- CertificateRequest ---

Result<CertificateRequest> CertificateRequest::create(const PrivateKey& key,
                                                      std::string_view commonName,
                                                      const std::vector<std::string>& dnsNames) {
  if (key.raw() == nullptr) return invalidArgument("certificate request: empty private key");
  ERR_clear_error();
  std::shared_ptr<X509_REQ> req = ownReq(X509_REQ_new());
  if (!req) return opensslInternal("allocating certificate request");
  if (X509_REQ_set_version(req.get(), 0) != 1) return opensslInternal("setting CSR version");
  // An empty CN is allowed here: the CA may assign the name (IssueOptions::commonName).
  if (!commonName.empty()) {
    SKIFF_RETURN_IF_ERROR(
        addNameEntry(X509_REQ_get_subject_name(req.get()), NID_commonName, commonName));
  }
  if (X509_REQ_set_pubkey(req.get(), key.raw()) != 1) return opensslInternal("setting CSR key");
  if (!dnsNames.empty()) {
    SKIFF_ASSIGN_OR_RETURN(GeneralNamesPtr names, makeSubjectAltNames(dnsNames, {}));
    STACK_OF(X509_EXTENSION)* raw = nullptr;
    if (X509V3_add1_i2d(&raw, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
      return opensslInternal("encoding CSR subjectAltName");
    }
    ExtensionStackPtr exts(raw);
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return opensslInternal("adding CSR extensions");
    }
  }
  SKIFF_ASSIGN_OR_RETURN(MdCtxPtr ctx, signContext(key.raw()));
  if (X509_REQ_sign_ctx(req.get(), ctx.get()) <= 0) {
    return opensslInternal("signing certificate request");
  }
  CertificateRequest out;
  out.req_ = std::move(req);
  return out;
}

Result<CertificateRequest> CertificateRequest::fromPem(std::string_view pem) {
  SKIFF_ASSIGN_OR_RETURN(X509_REQ * raw, readPem<X509_REQ>("certificate request", pem, [](BIO* b) {
                           return PEM_read_bio_X509_REQ(b, nullptr, nullptr, nullptr);
                         }));
  CertificateRequest req;
  req.req_ = ownReq(raw);
  return req;
}

Result<std::string> CertificateRequest::toPem() const {
  if (!req_) return invalidArgument("certificate request: empty");
  return writePem("certificate request",
                  [&](BIO* bio) { return PEM_write_bio_X509_REQ(bio, req_.get()); });
}

std::string CertificateRequest::commonName() const {
  return req_ ? nameEntry(X509_REQ_get_subject_name(req_.get()), NID_commonName) : "";
}

Status CertificateRequest::verify() const {
  if (!req_) return invalidArgument("certificate request: empty");
  ERR_clear_error();
  EVP_PKEY* key = X509_REQ_get0_pubkey(req_.get());
  if (key == nullptr) {
    return invalidArgument(withErrors("certificate request: no usable public key"));
  }
  if (X509_REQ_verify(req_.get(), key) != 1) {
    return invalidArgument(
        withErrors("certificate request: self-signature does not match its public key"));
  }
  return Status::ok();
}

// --- CertificateAuthority ---

Result<CertificateAuthority> CertificateAuthority::create(std::string_view commonName,
                                                          std::chrono::seconds validity) {
  if (commonName.empty()) return invalidArgument("CA: common name must not be empty");
  SKIFF_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate(KeyType::kEcP256));
  ERR_clear_error();
  std::shared_ptr<X509> cert = ownCert(X509_new());
  if (!cert) return opensslInternal("allocating CA certificate");
  X509* x = cert.get();
  if (X509_set_version(x, 2) != 1) return opensslInternal("setting CA version");
  SKIFF_RETURN_IF_ERROR(setRandomSerial(x));
  SKIFF_RETURN_IF_ERROR(setValidity(x, validity));
  SKIFF_RETURN_IF_ERROR(addNameEntry(X509_get_subject_name(x), NID_commonName, commonName));
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
    return opensslInternal("setting CA issuer");
  }
  if (X509_set_pubkey(x, key.raw()) != 1) return opensslInternal("setting CA public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE"));
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  // The subject key identifier must exist before the authority key identifier refers to it.
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  SKIFF_RETURN_IF_ERROR(signCertificate(x, key.raw()));

  CertificateAuthority ca;
  ca.cert_.cert_ = std::move(cert);
  ca.key_ = std::move(key);
  return ca;
}

Result<CertificateAuthority> CertificateAuthority::fromPem(std::string_view certPem,
                                                           std::string_view keyPem) {
  SKIFF_ASSIGN_OR_RETURN(Certificate cert, Certificate::fromPem(certPem));
  SKIFF_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::fromPem(keyPem));
  if (!cert.isCa()) return invalidArgument("CA: certificate is not a CA (basicConstraints)");
  ERR_clear_error();
  if (X509_check_private_key(cert.raw(), key.raw()) != 1) {
    return invalidArgument(withErrors("CA: private key does not match certificate"));
  }
  CertificateAuthority ca;
  ca.cert_ = std::move(cert);
  ca.key_ = std::move(key);
  return ca;
}

Result<Certificate> CertificateAuthority::issue(const CertificateRequest& csr,
                                                const IssueOptions& opts) const {
  if (!csr.req_) return invalidArgument("certificate request: empty");
  // Proof of possession first: never certify a public key the requester cannot sign with.
  SKIFF_RETURN_IF_ERROR(csr.verify());
  std::string commonName = opts.commonName.empty() ? csr.commonName() : opts.commonName;
  if (commonName.empty()) {
    return invalidArgument("certificate request: no common name in the CSR or the issue options");
  }

  // Only the CN may come from the CSR. Names, organizations (= Kubernetes groups) and usage are
  // authorization decisions, so they come from the caller's options; SANs requested in the CSR
  // are deliberately ignored.
  ERR_clear_error();
  std::shared_ptr<X509> cert = ownCert(X509_new());
  if (!cert) return opensslInternal("allocating certificate");
  X509* x = cert.get();
  X509* caCert = cert_.raw();
  if (X509_set_version(x, 2) != 1) return opensslInternal("setting certificate version");
  SKIFF_RETURN_IF_ERROR(setRandomSerial(x));
  SKIFF_RETURN_IF_ERROR(setValidity(x, opts.validity));
  X509_NAME* subject = X509_get_subject_name(x);
  for (const std::string& org : opts.organizations) {
    if (org.empty()) return invalidArgument("certificate: empty organization");
    SKIFF_RETURN_IF_ERROR(addNameEntry(subject, NID_organizationName, org));
  }
  SKIFF_RETURN_IF_ERROR(addNameEntry(subject, NID_commonName, commonName));
  if (X509_set_issuer_name(x, X509_get_subject_name(caCert)) != 1) {
    return opensslInternal("setting issuer");
  }
  EVP_PKEY* subjectKey = X509_REQ_get0_pubkey(csr.req_.get());
  if (subjectKey == nullptr || X509_set_pubkey(x, subjectKey) != 1) {
    return opensslInternal("setting certificate public key");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, caCert, x, nullptr, nullptr, 0);
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  // keyEncipherment only means something for RSA key transport; EC/Ed25519 keys only sign.
  const char* keyUsage = EVP_PKEY_is_a(subjectKey, "RSA") == 1
                             ? "critical,digitalSignature,keyEncipherment"
                             : "critical,digitalSignature";
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_key_usage, keyUsage));
  const char* extKeyUsage = opts.usage == CertUsage::kServer   ? "serverAuth"
                            : opts.usage == CertUsage::kClient ? "clientAuth"
                                                               : "serverAuth,clientAuth";
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_ext_key_usage, extKeyUsage));
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  SKIFF_RETURN_IF_ERROR(addConfExtension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!opts.dnsNames.empty() || !opts.ipAddresses.empty()) {
    SKIFF_ASSIGN_OR_RETURN(GeneralNamesPtr names,
                           makeSubjectAltNames(opts.dnsNames, opts.ipAddresses));
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
      return opensslInternal("adding subjectAltName");
    }
  }
  SKIFF_RETURN_IF_ERROR(signCertificate(x, key_.raw()));

  Certificate out;
  out.cert_ = std::move(cert);
  return out;
}

Result<CertificateAuthority::KeyAndCert> CertificateAuthority::issueNew(
    const IssueOptions& opts) const {
  SKIFF_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate(KeyType::kEcP256));
  SKIFF_ASSIGN_OR_RETURN(CertificateRequest csr,
                         CertificateRequest::create(key, opts.commonName, opts.dnsNames));
  SKIFF_ASSIGN_OR_RETURN(Certificate cert, issue(csr, opts));
  return KeyAndCert{std::move(key), std::move(cert)};
}

Status CertificateAuthority::verify(const Certificate& cert) const {
  if (cert.raw() == nullptr) return invalidArgument("certificate: empty");
  ERR_clear_error();
  StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_add_cert(store.get(), cert_.raw()) != 1) {
    return opensslInternal("verify: building trust store");
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.raw(), nullptr) != 1) {
    return opensslInternal("verify: initialising store context");
  }
  int rc = X509_verify_cert(ctx.get());
  if (rc == 1) return Status::ok();
  int err = X509_STORE_CTX_get_error(ctx.get());
  drainErrors();
  if (rc < 0 || err == X509_V_OK) return internalError("verify: could not run verification");
  return permissionDenied(std::string("certificate: ") + X509_verify_cert_error_string(err));
}

// --- SSL_CTX configuration ---

Status configureServerContext(SSL_CTX* ctx, const TlsFiles& files, ClientAuth clientAuth,
                              const std::vector<std::string>& alpnProtocols) {
  if (ctx == nullptr) return invalidArgument("tls: null SSL_CTX");
  if (files.certFile.empty() || files.keyFile.empty()) {
    return invalidArgument("tls: a server needs both a certificate and a key file");
  }
  if (clientAuth != ClientAuth::kNone && files.caFile.empty()) {
    return invalidArgument("tls: client authentication needs a CA file to verify clients");
  }
  SKIFF_RETURN_IF_ERROR(setMinVersion(ctx));
  SKIFF_RETURN_IF_ERROR(loadCertAndKey(ctx, files));
  int mode = SSL_VERIFY_NONE;
  if (clientAuth != ClientAuth::kNone) {
    SKIFF_RETURN_IF_ERROR(loadCa(ctx, files.caFile));
    // Advertise the acceptable issuers so clients holding several certificates pick ours.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.caFile.c_str());
    if (names == nullptr) return invalidArgument(withErrors("tls: reading CA names"));
    SSL_CTX_set_client_CA_list(ctx, names);
    mode = SSL_VERIFY_PEER;
    if (clientAuth == ClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  // Optional client authentication: a certificate that fails verification (expired, unknown
  // issuer) must not break the handshake — the client may still authenticate otherwise (a
  // bearer token) or be told why in an HTTP answer. OpenSSL records the verification result
  // (SSL_get_verify_result), and only a verified certificate yields an identity.
  int (*verify)(int, X509_STORE_CTX*) = nullptr;
  if (clientAuth == ClientAuth::kOptional) verify = [](int, X509_STORE_CTX*) { return 1; };
  SSL_CTX_set_verify(ctx, mode, verify);
  // Required whenever peers may be verified: without a session id context OpenSSL aborts every
  // resumed session with an internal-error alert (libcurl resumes sessions by default).
  static const unsigned char kSessionContext[] = "skiff";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  SKIFF_RETURN_IF_ERROR(setAlpn(ctx, alpnProtocols));
  return Status::ok();
}

Status configureClientContext(SSL_CTX* ctx, const TlsFiles& files) {
  if (ctx == nullptr) return invalidArgument("tls: null SSL_CTX");
  if (files.certFile.empty() != files.keyFile.empty()) {
    return invalidArgument("tls: a client certificate needs both a certificate and a key file");
  }
  SKIFF_RETURN_IF_ERROR(setMinVersion(ctx));
  if (!files.certFile.empty()) SKIFF_RETURN_IF_ERROR(loadCertAndKey(ctx, files));
  if (!files.caFile.empty()) {
    SKIFF_RETURN_IF_ERROR(loadCa(ctx, files.caFile));
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return opensslInternal("tls: loading system trust roots");
  }
  // A client always verifies the server's chain (against caFile or the system roots); matching
  // the certificate to the host name is left to the caller, who knows which name it dialled.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return Status::ok();
}

}  // namespace skiff::common::tls
