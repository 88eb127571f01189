// JSON helpers: exception-free parsing and field access with path-aware errors.
#include "common/json.h"

namespace skiff::common {

Result<Json> parseJson(std::string_view text, std::size_t maxBytes) {
  if (text.size() > maxBytes) {
    return resourceExhausted("JSON document of " + std::to_string(text.size()) +
                             " bytes exceeds the limit of " + std::to_string(maxBytes) + " bytes");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return invalidArgument("invalid JSON at byte " + std::to_string(e.byte) + ": " +
                           std::string(e.what()));
  } catch (const std::exception& e) {
    return invalidArgument(std::string("invalid JSON: ") + e.what());
  }
}

const Json& jsonField(const Json& obj, std::string_view key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string jsonString(const Json& obj, std::string_view key) {
  const Json& v = jsonField(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string_view jsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::binary:
      return "binary";
    case Json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

std::string JsonFields::pathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Result<const Json*> JsonFields::find(std::string_view key, bool required) const {
  if (!obj_.is_object()) {
    return invalidArgument((path_.empty() ? std::string("document") : path_) +
                           ": expected object, got " + std::string(jsonTypeName(obj_)));
  }
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) return invalidArgument(pathOf(key) + ": required value");
    return static_cast<const Json*>(nullptr);
  }
  return &*it;
}

namespace {
Status typeError(const std::string& path, std::string_view want, const Json& got) {
  return invalidArgument(path + ": expected " + std::string(want) + ", got " +
                         std::string(jsonTypeName(got)));
}
}  // namespace

Result<std::string> JsonFields::requireString(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, true));
  if (!v->is_string()) return typeError(pathOf(key), "string", *v);
  return v->get<std::string>();
}

Result<std::optional<std::string>> JsonFields::optionalString(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, false));
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return typeError(pathOf(key), "string", *v);
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::int64_t> JsonFields::requireInt(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(auto v, optionalInt(key));
  if (!v) return invalidArgument(pathOf(key) + ": required value");
  return *v;
}

Result<std::optional<std::int64_t>> JsonFields::optionalInt(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, false));
  if (v == nullptr) return std::optional<std::int64_t>();
  // nlohmann reports unsigned numbers as integers too: check the unsigned case first.
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) {
      return invalidArgument(pathOf(key) + ": integer out of range");
    }
    return std::optional<std::int64_t>(static_cast<std::int64_t>(u));
  }
  if (v->is_number_integer()) return std::optional<std::int64_t>(v->get<std::int64_t>());
  return typeError(pathOf(key), "integer", *v);
}

Result<std::optional<bool>> JsonFields::optionalBool(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, false));
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return typeError(pathOf(key), "boolean", *v);
  return std::optional<bool>(v->get<bool>());
}

Result<const Json*> JsonFields::optionalObject(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, false));
  if (v != nullptr && !v->is_object()) return typeError(pathOf(key), "object", *v);
  return v;
}

Result<const Json*> JsonFields::optionalArray(std::string_view key) const {
  SKIFF_ASSIGN_OR_RETURN(const Json* v, find(key, false));
  if (v != nullptr && !v->is_array()) return typeError(pathOf(key), "array", *v);
  return v;
}

}  // namespace skiff::common
