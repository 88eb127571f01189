// The dashboard's static assets (built by the dashboard into hub/dashboard/dist and installed to
// share/skiff/dashboard): `/` serves index.html, other paths their file with the right content
// type; unknown extension-less paths fall back to index.html (client-side routes). Hashed
// assets under /assets/ are cacheable forever, index.html is revalidated every time. Paths that
// escape the root are refused. Thread-safe (reads files on each request).
#pragma once

#include <string>

#include "common/http/server.h"

namespace skiff::hub::api {

class StaticFiles {
 public:
  explicit StaticFiles(std::string root);
  // Serves GET/HEAD for non-API paths; returns false when it did not respond.
  bool serve(const common::http::Request& req, common::http::ResponseWriter& w) const;
  const std::string& root() const { return root_; }

  static std::string contentTypeFor(const std::string& path);

 private:
  std::string root_;
};

}  // namespace skiff::hub::api
