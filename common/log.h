// Structured logging: one line per event, with a level, component, message and typed fields,
// as text (`ts level component msg key=value ...`) or JSON lines. Thread-safe; every call writes
// one whole line under a mutex, so concurrent lines never interleave.
#pragma once

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace skiff::common::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

Result<Level> parseLevel(std::string_view s);    // debug|info|warn|warning|error
Result<Format> parseFormat(std::string_view s);  // text|json

using Field = std::pair<std::string_view, nlohmann::json>;
using Fields = std::initializer_list<Field>;

// Process-wide configuration. sink defaults to std::cerr and must outlive all logging.
void configure(Level level, Format format, std::string component, std::ostream* sink = nullptr);
bool enabled(Level level);

void write(Level level, std::string_view msg, Fields fields = {});
inline void debug(std::string_view msg, Fields f = {}) { write(Level::kDebug, msg, f); }
inline void info(std::string_view msg, Fields f = {}) { write(Level::kInfo, msg, f); }
inline void warn(std::string_view msg, Fields f = {}) { write(Level::kWarn, msg, f); }
inline void error(std::string_view msg, Fields f = {}) { write(Level::kError, msg, f); }

}  // namespace skiff::common::log
