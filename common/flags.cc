// CLI11 glue: common flags, config files and exception-free parsing.
#include "common/flags.h"

#include "common/clock.h"

#include <iostream>
#include <sstream>

#include "common/clock.h"

namespace skiff::common {

void addCommonFlags(CLI::App& app, CommonFlags& flags) {
  app.add_option("--log-level", flags.logLevel, "Log level: debug, info, warn, error")
      ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", flags.logFormat, "Log format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.set_config("--config", "", "Read flags from this TOML/INI file (command line wins)");
  app.allow_config_extras(CLI::config_extras_mode::error);
}

CLI::Option* addDurationOption(CLI::App& app, const std::string& name,
                               std::chrono::milliseconds& target, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, name](const std::string& v) {
            auto d = parseDuration(v);
            if (!d || *d <= std::chrono::nanoseconds::zero()) {
              throw CLI::ValidationError(
                  name, "'" + v + "' is not a positive duration such as 30s, 1m30s or 500ms");
            }
            target = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
            if (target.count() == 0) target = std::chrono::milliseconds(1);
          },
          help + " (default " + formatDuration(target) + ")")
      ->type_name("DURATION");
}

Status applyLogging(const CommonFlags& flags, const std::string& component) {
  SKIFF_ASSIGN_OR_RETURN(log::Level level, log::parseLevel(flags.logLevel));
  SKIFF_ASSIGN_OR_RETURN(log::Format format, log::parseFormat(flags.logFormat));
  log::configure(level, format, component);
  return Status::ok();
}

ParseOutcome parseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  ParseOutcome out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.kind = ParseOutcome::Kind::kExit;
    out.output = app.help();
  } catch (const CLI::CallForAllHelp&) {
    out.kind = ParseOutcome::Kind::kExit;
    out.output = app.help("", CLI::AppFormatMode::All);
  } catch (const CLI::CallForVersion& e) {
    out.kind = ParseOutcome::Kind::kExit;
    out.output = std::string(e.what()) + "\n";
  } catch (const CLI::ParseError& e) {
    out.kind = ParseOutcome::Kind::kExit;
    out.exitCode = 2;
    out.output = app.get_name() + ": " + e.what() + "\nRun with --help for usage.\n";
  } catch (const std::exception& e) {
    out.kind = ParseOutcome::Kind::kExit;
    out.exitCode = 2;
    out.output = app.get_name() + ": " + e.what() + "\n";
  }
  return out;
}

bool parseOrExit(CLI::App& app, int argc, const char* const* argv, int* exitCode) {
  ParseOutcome out = parseCommandLine(app, argc, argv);
  if (out.kind == ParseOutcome::Kind::kRun) return true;
  (out.exitCode == 0 ? std::cout : std::cerr) << out.output;
  *exitCode = out.exitCode;
  return false;
}

}  // namespace skiff::common
