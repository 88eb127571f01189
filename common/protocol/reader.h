// Strict typed reading of one JSON object for the protocol parsers: every accessor checks type
// and range, records the first error with its field path, and unknown keys are an error (schema
// changes bump the schema number instead). Internal to common/protocol.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace skiff::common::protocol::detail {

class Reader {
 public:
  // path names the object in errors ("modules[2].ports[0]").
  Reader(const Json& j, std::string path);

  std::string str(std::string_view key, bool required = false, std::size_t maxLen = 4096);
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max,
                       std::int64_t def = 0, bool required = false);
  double number(std::string_view key, double min, double max, double def = 0);
  bool boolean(std::string_view key, bool def = false);
  std::vector<std::string> strings(std::string_view key, std::size_t maxItems = 1024);
  // The member (object / array), or nullptr when absent or of the wrong type (error recorded).
  const Json* object(std::string_view key, bool required = false);
  const Json* array(std::string_view key, bool required = false, std::size_t maxItems = 4096);
  bool has(std::string_view key) const;
  std::string pathOf(std::string_view key) const;

  // Records an error unless one is already recorded.
  void fail(Status s);
  void fail(std::string_view key, std::string_view message);
  // The first error, including unknown keys (checked here, after the reads).
  Status finish();
  bool ok() const { return status_.isOk(); }

 private:
  const Json* member(std::string_view key, bool required);
  const Json& j_;
  std::string path_;
  // Members read so far (by address in j_), for finish()'s unknown-field check; a handful per
  // object, so a vector beats a set of key copies.
  std::vector<const Json*> seen_;
  Status status_;
};

// "path[i]".
std::string indexPath(const std::string& path, std::size_t i);

// Reads an enum given as one of `names` (index = enum value); def when absent.
template <typename E, std::size_t N>
E readEnum(Reader& r, std::string_view key, const std::string_view (&names)[N], E def) {
  if (!r.has(key)) {
    r.str(key);  // marks the key as known
    return def;
  }
  std::string v = r.str(key);
  for (std::size_t i = 0; i < N; ++i) {
    if (v == names[i]) return static_cast<E>(i);
  }
  std::string allowed;
  for (std::size_t i = 0; i < N; ++i) allowed += (i ? ", " : "") + std::string(names[i]);
  if (r.ok()) r.fail(key, "unsupported value \"" + v + "\" (allowed: " + allowed + ")");
  return def;
}

// An optional integer member: nullopt when absent (the key is still marked as known).
std::optional<std::int64_t> optionalInteger(Reader& r, std::string_view key, std::int64_t min,
                                            std::int64_t max);
std::optional<bool> optionalBoolean(Reader& r, std::string_view key);

// Relative paths without empty, "." or ".." elements; absolute paths without "..".
Status validateRelativePath(const std::string& path, const std::string& p);
Status validateAbsolutePath(const std::string& path, const std::string& p);
Status validateEnvName(const std::string& path, const std::string& n);

// The characters names are made of: [a-z0-9].
inline bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace skiff::common::protocol::detail
