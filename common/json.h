// JSON helpers over nlohmann::json: bounded parsing that never throws, and typed field access
// whose errors name the offending field path ("spec.containers[0].image: expected string").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace skiff::common {

using Json = nlohmann::json;

// Parses text as JSON. InvalidArgument (with byte offset) on syntax errors, ResourceExhausted
// when text is longer than maxBytes. Never throws.
Result<Json> parseJson(std::string_view text, std::size_t maxBytes = 3 * 1024 * 1024);

// Compact serialization; invalid UTF-8 is replaced rather than throwing.
std::string dumpJson(const Json& j);

// The member `key` of obj, or a null Json when obj is not an object or lacks it. Never throws;
// the reference stays valid while obj lives.
const Json& jsonField(const Json& obj, std::string_view key);
// The member as a string; "" when absent or not a string.
std::string jsonString(const Json& obj, std::string_view key);

// Type name as used in error messages: "string", "number", "object", ...
std::string_view jsonTypeName(const Json& j);

// Typed access to a field of an object. `path` is the object's own path ("" for the root) and is
// used only for error messages. Missing field: required → InvalidArgument "<path>.<key>: required";
// optional → std::nullopt. Wrong type → InvalidArgument naming expected and actual types.
class JsonFields {
 public:
  JsonFields(const Json& obj, std::string path = "") : obj_(obj), path_(std::move(path)) {}

  Result<std::string> requireString(std::string_view key) const;
  Result<std::optional<std::string>> optionalString(std::string_view key) const;
  Result<std::int64_t> requireInt(std::string_view key) const;
  Result<std::optional<std::int64_t>> optionalInt(std::string_view key) const;
  Result<std::optional<bool>> optionalBool(std::string_view key) const;
  // Returns a pointer into the object (valid while it lives) or nullptr when absent.
  Result<const Json*> optionalObject(std::string_view key) const;
  Result<const Json*> optionalArray(std::string_view key) const;

  std::string pathOf(std::string_view key) const;

 private:
  Result<const Json*> find(std::string_view key, bool required) const;
  const Json& obj_;
  std::string path_;
};

}  // namespace skiff::common
