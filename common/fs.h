// Small file-system helpers shared by every component: whole-file read and crash-safe write.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace skiff::common {

// Reads a whole file. NotFound if it does not exist; blocks on disk I/O.
Result<std::string> readFile(const std::string& path);

// Writes path atomically and durably: write to a temp file in the same directory, fsync it,
// rename over path, fsync the directory. A crash leaves either the old or the new content, never
// a torn file. mode applies to the new file (e.g. 0600 for keys).
Status writeFileAtomic(const std::string& path, std::string_view content, unsigned mode = 0644);

// Creates a directory and its parents (mode for the ones created). Ok if it already exists.
Status makeDirs(const std::string& path, unsigned mode = 0755);

}  // namespace skiff::common
