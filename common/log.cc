// Structured logger implementation: formatting and the process-wide sink.
#include "common/log.h"

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>

#include "common/clock.h"

namespace skiff::common::log {

namespace {
struct State {
  std::mutex mu;
  Format format = Format::kText;
  std::string component = "skiff";
  std::ostream* sink = &std::cerr;
};
State& state() {
  static State s;
  return s;
}
std::atomic<int> gLevel{static_cast<int>(Level::kInfo)};

std::string_view levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Text values: strings are quoted only when they contain spaces, quotes or '='.
void appendTextValue(std::string& out, const nlohmann::json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (!s.empty() && s.find_first_of(" \"=\n\t") == std::string::npos) {
      out += s;
      return;
    }
  }
  out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

Result<Level> parseLevel(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "error") return Level::kError;
  return invalidArgument("unknown log level \"" + std::string(s) +
                         "\" (want debug, info, warn or error)");
}

Result<Format> parseFormat(std::string_view s) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  return invalidArgument("unknown log format \"" + std::string(s) + "\" (want text or json)");
}

void configure(Level level, Format format, std::string component, std::ostream* sink) {
  State& st = state();
  std::lock_guard lock(st.mu);
  gLevel.store(static_cast<int>(level));
  st.format = format;
  st.component = std::move(component);
  st.sink = sink != nullptr ? sink : &std::cerr;
}

bool enabled(Level level) { return static_cast<int>(level) >= gLevel.load(); }

void write(Level level, std::string_view msg, Fields fields) {
  if (!enabled(level)) return;
  State& st = state();
  std::string ts = formatRfc3339Micro(std::chrono::system_clock::now());
  std::lock_guard lock(st.mu);
  std::string line;
  if (st.format == Format::kJson) {
    nlohmann::json j = nlohmann::json::object();
    j["ts"] = ts;
    j["level"] = levelName(level);
    j["component"] = st.component;
    j["msg"] = msg;
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = ts;
    line += ' ';
    line += levelName(level);
    line += ' ';
    line += st.component;
    line += ' ';
    line += msg;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      appendTextValue(line, v);
    }
  }
  line += '\n';
  st.sink->write(line.data(), static_cast<std::streamsize>(line.size()));
  st.sink->flush();
}

}  // namespace skiff::common::log
