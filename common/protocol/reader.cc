// Reader implementation (see reader.h).
#include "common/protocol/reader.h"

#include <algorithm>
#include <cmath>

namespace skiff::common::protocol::detail {

Reader::Reader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {
  if (j_.is_object()) {
    seen_.reserve(j_.size());  // one allocation, not one per doubling
  } else {
    status_ = invalidArgument(path_ + ": expected object, got " + std::string(jsonTypeName(j_)));
  }
}

std::string Reader::pathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void Reader::fail(Status s) {
  if (status_.isOk()) status_ = std::move(s);
}

void Reader::fail(std::string_view key, std::string_view message) {
  fail(invalidArgument(pathOf(key) + ": " + std::string(message)));
}

bool Reader::has(std::string_view key) const {
  if (!j_.is_object()) return false;
  auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

const Json* Reader::member(std::string_view key, bool required) {
  if (!status_.isOk() || !j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it != j_.end()) seen_.push_back(&*it);
  if (it == j_.end() || it->is_null()) {
    if (required) fail(key, "required value");
    return nullptr;
  }
  return &*it;
}

std::string Reader::str(std::string_view key, bool required, std::size_t maxLen) {
  const Json* v = member(key, required);
  if (v == nullptr) return "";
  if (!v->is_string()) {
    fail(key, "expected string, got " + std::string(jsonTypeName(*v)));
    return "";
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > maxLen) {
    fail(key, "longer than " + std::to_string(maxLen) + " bytes");
    return "";
  }
  if (required && s.empty()) {
    fail(key, "must not be empty");
    return "";
  }
  return s;
}

std::int64_t Reader::integer(std::string_view key, std::int64_t min, std::int64_t max,
                             std::int64_t def, bool required) {
  const Json* v = member(key, required);
  if (v == nullptr) return def;
  std::int64_t n = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() &&
        v->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(key, "out of range");
      return def;
    }
    n = v->get<std::int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::floor(d) != d || std::abs(d) > 9e15) {
      fail(key, "expected integer, got " + v->dump());
      return def;
    }
    n = static_cast<std::int64_t>(d);
  } else {
    fail(key, "expected integer, got " + std::string(jsonTypeName(*v)));
    return def;
  }
  if (n < min || n > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                  std::to_string(n));
    return def;
  }
  return n;
}

double Reader::number(std::string_view key, double min, double max, double def) {
  const Json* v = member(key, false);
  if (v == nullptr) return def;
  if (!v->is_number()) {
    fail(key, "expected number, got " + std::string(jsonTypeName(*v)));
    return def;
  }
  double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    fail(key, "out of range: " + v->dump());
    return def;
  }
  return d;
}

bool Reader::boolean(std::string_view key, bool def) {
  const Json* v = member(key, false);
  if (v == nullptr) return def;
  if (!v->is_boolean()) {
    fail(key, "expected boolean, got " + std::string(jsonTypeName(*v)));
    return def;
  }
  return v->get<bool>();
}

std::vector<std::string> Reader::strings(std::string_view key, std::size_t maxItems) {
  std::vector<std::string> out;
  const Json* v = array(key, false, maxItems);
  if (v == nullptr) return out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    if (!e.is_string()) {
      fail(invalidArgument(pathOf(key) + "[" + std::to_string(i) + "]: expected string, got " +
                           std::string(jsonTypeName(e))));
      return {};
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

const Json* Reader::object(std::string_view key, bool required) {
  const Json* v = member(key, required);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    fail(key, "expected object, got " + std::string(jsonTypeName(*v)));
    return nullptr;
  }
  return v;
}

const Json* Reader::array(std::string_view key, bool required, std::size_t maxItems) {
  const Json* v = member(key, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    fail(key, "expected array, got " + std::string(jsonTypeName(*v)));
    return nullptr;
  }
  if (v->size() > maxItems) {
    fail(key, "more than " + std::to_string(maxItems) + " items");
    return nullptr;
  }
  return v;
}

Status Reader::finish() {
  if (!status_.isOk() || !j_.is_object()) return status_;
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (std::find(seen_.begin(), seen_.end(), &*it) == seen_.end()) {
      return invalidArgument(pathOf(it.key()) + ": unknown field");
    }
  }
  return Status::ok();
}

std::string indexPath(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::optional<std::int64_t> optionalInteger(Reader& r, std::string_view key, std::int64_t min,
                                            std::int64_t max) {
  if (!r.has(key)) {
    r.integer(key, 0, 0);  // marks the key as known (null or absent)
    return std::nullopt;
  }
  return r.integer(key, min, max);
}

std::optional<bool> optionalBoolean(Reader& r, std::string_view key) {
  if (!r.has(key)) {
    r.boolean(key);
    return std::nullopt;
  }
  return r.boolean(key);
}

Status validateRelativePath(const std::string& path, const std::string& p) {
  if (p.empty() || p.size() > 253) return invalidArgument(path + ": must be 1-253 characters");
  if (p.front() == '/') return invalidArgument(path + ": must be relative");
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view part(p.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return invalidArgument(path + ": must not contain empty, '.' or '..' elements");
    }
    start = end + 1;
  }
  if (p.find('\0') != std::string::npos) return invalidArgument(path + ": contains NUL");
  return Status::ok();
}

Status validateAbsolutePath(const std::string& path, const std::string& p) {
  if (p.empty() || p.front() != '/') return invalidArgument(path + ": must be an absolute path");
  if (p.find('\0') != std::string::npos) return invalidArgument(path + ": contains NUL");
  if (p.find("/../") != std::string::npos || p.ends_with("/..")) {
    return invalidArgument(path + ": must not contain '..'");
  }
  return Status::ok();
}

Status validateEnvName(const std::string& path, const std::string& n) {
  if (n.empty()) return invalidArgument(path + ": must not be empty");
  for (char c : n) {
    if (c == '=' || c == '\0' || static_cast<unsigned char>(c) < 0x20) {
      return invalidArgument(path + ": invalid character in \"" + n + "\"");
    }
  }
  return Status::ok();
}

}  // namespace skiff::common::protocol::detail
