// Command-line and config-file parsing for every Skiff binary, on CLI11.
// Flags may also come from a TOML/INI file given by --config; a flag on the command line wins
// over the file. Unknown flags, unknown config keys, malformed files and bad values are errors
// with a message naming the flag; nothing runs after a parse error.
#pragma once

#include <chrono>
#include <string>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "common/status.h"

namespace skiff::common {

// Flags every daemon has: --log-level, --log-format, --config.
struct CommonFlags {
  std::string logLevel = "info";
  std::string logFormat = "text";
};

// Adds --log-level/--log-format (validated) and --config to app.
void addCommonFlags(CLI::App& app, CommonFlags& flags);

// A duration flag in Go form ("40s", "1m30s", "500ms"): a bad or non-positive value fails
// parsing with the flag's name, like every other flag. The help shows the current default.
void addDurationOption(CLI::App& app, const std::string& name, std::chrono::milliseconds& target,
                       const std::string& help);

// Applies CommonFlags to the process-wide logger for component.
Status applyLogging(const CommonFlags& flags, const std::string& component);

struct ParseOutcome {
  enum class Kind { kRun, kExit };
  Kind kind = Kind::kRun;
  int exitCode = 0;    // for kExit: 0 after --help/--version, 2 after an error
  std::string output;  // help/version text or the error message
};

// Parses argv into app. Never throws and never calls exit(): the caller prints `output`
// (stdout for exit code 0, stderr otherwise) and returns exitCode from main.
ParseOutcome parseCommandLine(CLI::App& app, int argc, const char* const* argv);

// The usual main() prologue: parse, print help/errors, return true if the program should run.
// On false, *exitCode is what main should return.
bool parseOrExit(CLI::App& app, int argc, const char* const* argv, int* exitCode);

}  // namespace skiff::common
