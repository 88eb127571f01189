// ObjectStore: the JSON-object layer between API handlers and the revisioned Store.
#include "control_plane/apiserver/object_store.h"

#include <openssl/rand.h>

#include <charconv>

#include "common/base64.h"

namespace skiff::control_plane::apiserver {

using common::StatusCode;

namespace {

std::string randomSuffix() {
  // Kubernetes' generateName alphabet: consonants and digits without look-alikes.
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char b[5];
  RAND_bytes(b, sizeof b);
  std::string s;
  for (unsigned char c : b) s += kAlphabet[c % (sizeof kAlphabet - 1)];
  return s;
}

class ObjectWatchImpl final : public ObjectWatch {
 public:
  ObjectWatchImpl(ObjectStore& os, const ResourceInfo& r, std::unique_ptr<common::store::Watch> w)
      : os_(os), r_(r), w_(std::move(w)) {}

  Result<std::optional<ObjectEvent>> next(std::chrono::milliseconds timeout) override {
    SKIFF_ASSIGN_OR_RETURN(auto ev, w_->next(timeout));
    if (!ev) return std::optional<ObjectEvent>();
    ObjectEvent out;
    out.revision = ev->kv.modRevision;
    if (ev->type == common::store::WatchEvent::Type::kDelete) {
      out.type = ObjectEvent::Type::kDeleted;
      SKIFF_ASSIGN_OR_RETURN(out.object, os_.decode(r_, ev->kv.value, ev->kv.modRevision));
    } else {
      out.type = ev->prevKv ? ObjectEvent::Type::kModified : ObjectEvent::Type::kAdded;
      SKIFF_ASSIGN_OR_RETURN(out.object, os_.decode(r_, ev->kv.value, ev->kv.modRevision));
    }
    if (ev->prevKv) {
      SKIFF_ASSIGN_OR_RETURN(Json prev, os_.decode(r_, ev->prevKv->value, ev->prevKv->modRevision));
      out.previous = std::move(prev);
    }
    return std::optional<ObjectEvent>(std::move(out));
  }

 private:
  ObjectStore& os_;
  const ResourceInfo& r_;
  std::unique_ptr<common::store::Watch> w_;
};

}  // namespace

std::string metaString(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

std::int64_t parseResourceVersion(const Json& obj) {
  std::string rv = metaString(obj, "resourceVersion");
  if (rv.empty()) return 0;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), v);
  if (ec != std::errc() || p != rv.data() + rv.size() || v < 0) return -1;
  return v;
}

std::string newUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 0xf];
  }
  return s;
}

Status modifiedConflict(const ResourceInfo& r, const std::string& name) {
  return common::conflict("Operation cannot be fulfilled on " + r.qualifiedResource() + " \"" +
                          name +
                          "\": the object has been modified; please apply your changes to the "
                          "latest version and try again");
}

std::string makeContinueToken(std::int64_t revision, const std::string& afterKeySuffix) {
  return common::base64Encode(common::dumpJson(Json{{"rv", revision}, {"start", afterKeySuffix}}));
}

ObjectStore::ObjectStore(common::store::Store& store, const common::Clock& clock,
                         std::shared_ptr<ValueTransformer> secretTransformer)
    : store_(store), clock_(clock), secretTransformer_(std::move(secretTransformer)) {}

Result<std::string> ObjectStore::encode(const ResourceInfo& r, const Json& obj) {
  Json copy = obj;
  if (copy.contains("metadata") && copy["metadata"].is_object()) {
    copy["metadata"].erase("resourceVersion");
  }
  std::string text = common::dumpJson(copy);
  if (secretTransformer_ && r.resource == "secrets" && r.group.empty()) {
    return secretTransformer_->seal(text);
  }
  return text;
}

Result<Json> ObjectStore::decode(const ResourceInfo& r, std::string_view value,
                                 std::int64_t revision) {
  std::string plain;
  if (secretTransformer_ && r.resource == "secrets" && r.group.empty()) {
    SKIFF_ASSIGN_OR_RETURN(plain, secretTransformer_->open(value));
    value = plain;
  }
  auto j = common::parseJson(value, SIZE_MAX);
  if (!j.isOk()) return common::internalError("corrupt stored object: " + j.status().message());
  (*j)["metadata"]["resourceVersion"] = std::to_string(revision);
  return std::move(j).value();
}

Result<Json> ObjectStore::get(const ResourceInfo& r, const std::string& ns,
                              const std::string& name) {
  auto kv = store_.get(objectKey(r, ns, name));
  if (!kv.isOk()) {
    if (kv.status().code() == StatusCode::kNotFound) {
      return common::notFound(r.qualifiedResource() + " \"" + name + "\" not found");
    }
    return kv.status();
  }
  return decode(r, kv->value, kv->modRevision);
}

Result<ObjectList> ObjectStore::list(const ResourceInfo& r, const std::optional<std::string>& ns,
                                     const ObjectListOptions& opts) {
  common::store::ListOptions lo;
  lo.limit = opts.limit;
  std::string prefix = listPrefix(r, ns ? std::optional<std::string_view>(*ns) : std::nullopt);
  if (!opts.continueToken.empty()) {
    auto raw = common::base64Decode(opts.continueToken);
    auto tok = raw.isOk() ? common::parseJson(*raw) : Result<Json>(raw.status());
    if (!tok.isOk() || !tok->is_object() || !(*tok)["rv"].is_number_integer() ||
        !(*tok)["start"].is_string()) {
      return common::invalidArgument("continue key is not valid");
    }
    lo.revision = (*tok)["rv"].get<std::int64_t>();
    lo.startAfter = prefix + (*tok)["start"].get<std::string>();
  }
  auto res = store_.list(prefix, lo);
  if (!res.isOk()) {
    if (res.status().code() == StatusCode::kGone) {
      return common::gone(
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter.");
    }
    return res.status();
  }
  ObjectList out;
  out.revision = res->revision;
  out.items.reserve(res->items.size());
  for (const auto& kv : res->items) {
    SKIFF_ASSIGN_OR_RETURN(Json obj, decode(r, kv.value, kv.modRevision));
    out.items.push_back(std::move(obj));
  }
  if (res->more && !res->items.empty()) {
    out.continueToken =
        makeContinueToken(res->revision, res->items.back().key.substr(prefix.size()));
  }
  return out;
}

Result<Json> ObjectStore::create(const ResourceInfo& r, Json obj) {
  Json& meta = obj["metadata"];
  meta["uid"] = newUid();
  meta["creationTimestamp"] = common::formatRfc3339(clock_.now());
  meta.erase("resourceVersion");
  std::string ns = r.namespaced ? metaString(obj, "namespace") : "";
  bool generated = metaString(obj, "name").empty() && !metaString(obj, "generateName").empty();
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (generated) meta["name"] = metaString(obj, "generateName") + randomSuffix();
    std::string name = metaString(obj, "name");
    SKIFF_ASSIGN_OR_RETURN(std::string value, encode(r, obj));
    auto rev = store_.create(objectKey(r, ns, name), value);
    if (rev.isOk()) {
      meta["resourceVersion"] = std::to_string(*rev);
      return obj;
    }
    if (rev.status().code() == StatusCode::kAlreadyExists) {
      if (generated) continue;
      return common::alreadyExists(r.qualifiedResource() + " \"" + name + "\" already exists");
    }
    return rev.status();
  }
  return common::alreadyExists("could not generate a unique name for " + r.qualifiedResource());
}

Result<Json> ObjectStore::update(const ResourceInfo& r, Json obj, std::int64_t expectedRevision) {
  std::string ns = r.namespaced ? metaString(obj, "namespace") : "";
  std::string name = metaString(obj, "name");
  SKIFF_ASSIGN_OR_RETURN(std::string value, encode(r, obj));
  auto rev = store_.update(objectKey(r, ns, name), value, expectedRevision);
  if (!rev.isOk()) {
    if (rev.status().code() == StatusCode::kNotFound) {
      return common::notFound(r.qualifiedResource() + " \"" + name + "\" not found");
    }
    if (rev.status().code() == StatusCode::kConflict) {
      return modifiedConflict(r, name);
    }
    return rev.status();
  }
  obj["metadata"]["resourceVersion"] = std::to_string(*rev);
  return obj;
}

Result<Json> ObjectStore::remove(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, std::int64_t expectedRevision) {
  auto kv = store_.remove(objectKey(r, ns, name), expectedRevision);
  if (!kv.isOk()) {
    if (kv.status().code() == StatusCode::kNotFound) {
      return common::notFound(r.qualifiedResource() + " \"" + name + "\" not found");
    }
    if (kv.status().code() == StatusCode::kConflict) {
      return modifiedConflict(r, name);
    }
    return kv.status();
  }
  return decode(r, kv->value, kv->modRevision);
}

Result<Json> ObjectStore::guaranteedUpdate(
    const ResourceInfo& r, const std::string& ns, const std::string& name,
    const std::function<Result<std::optional<Json>>(const Json& current)>& mutate) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    SKIFF_ASSIGN_OR_RETURN(Json current, get(r, ns, name));
    std::int64_t rev = parseResourceVersion(current);
    SKIFF_ASSIGN_OR_RETURN(std::optional<Json> next, mutate(current));
    if (!next) return current;
    auto res = update(r, std::move(*next), rev);
    if (res.isOk() || res.status().code() != StatusCode::kConflict) return res;
  }
  return common::conflict("too many concurrent updates of " + r.qualifiedResource() + " \"" + name +
                          "\"");
}

Result<std::unique_ptr<ObjectWatch>> ObjectStore::watch(const ResourceInfo& r,
                                                        const std::optional<std::string>& ns,
                                                        std::int64_t fromRevision) {
  std::string prefix = listPrefix(r, ns ? std::optional<std::string_view>(*ns) : std::nullopt);
  auto w = store_.watch(prefix, fromRevision);
  if (!w.isOk()) {
    if (w.status().code() == StatusCode::kGone) {
      return common::gone("too old resource version: " + std::to_string(fromRevision));
    }
    return w.status();
  }
  return std::unique_ptr<ObjectWatch>(std::make_unique<ObjectWatchImpl>(*this, r, std::move(*w)));
}

Result<std::int64_t> ObjectStore::currentRevision() { return store_.currentRevision(); }

}  // namespace skiff::control_plane::apiserver
