// Static file serving for the dashboard.
#include "hub/api/static_files.h"

#include <filesystem>

#include "common/fs.h"

namespace skiff::hub::api {

namespace fs = std::filesystem;

StaticFiles::StaticFiles(std::string root) : root_(std::move(root)) {}

std::string StaticFiles::contentTypeFor(const std::string& path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "webmanifest") return "application/manifest+json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "gif") return "image/gif";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  if (ext == "woff") return "font/woff";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "wasm") return "application/wasm";
  return "application/octet-stream";
}

bool StaticFiles::serve(const common::http::Request& req, common::http::ResponseWriter& w) const {
  if (req.method != "GET" && req.method != "HEAD") return false;
  std::string rel = req.path;
  if (rel.empty() || rel.front() != '/') return false;
  // No dot segments and no NUL: never leave the root.
  for (std::size_t pos = 0; pos <= rel.size();) {
    auto next = rel.find('/', pos);
    if (next == std::string::npos) next = rel.size();
    std::string_view seg(rel.data() + pos, next - pos);
    if (seg == ".." || seg == "." || seg.find('\0') != std::string_view::npos) {
      w.send(400, "text/plain", "bad path\n");
      return true;
    }
    pos = next + 1;
  }
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    w.send(404, "text/html; charset=utf-8",
           "<!doctype html><title>Skiff hub</title><p>The dashboard is not installed: " + root_ +
               " does not exist (skiff-hub --dashboard-dir). The APIs under /api/v1 work.</p>\n");
    return true;
  }
  std::string file = rel == "/" ? "/index.html" : rel;
  fs::path p = fs::path(root_) / file.substr(1);
  bool isAsset = rel.starts_with("/assets/");
  if (!fs::is_regular_file(p, ec)) {
    // Client-side routes (no extension) get the app; missing files are 404.
    if (fs::path(rel).has_extension() || isAsset) {
      w.send(404, "text/plain", "not found\n");
      return true;
    }
    p = fs::path(root_) / "index.html";
    file = "/index.html";
    if (!fs::is_regular_file(p, ec)) {
      w.send(404, "text/plain", "dashboard index.html missing in " + root_ + "\n");
      return true;
    }
  }
  auto body = common::readFile(p.string());
  if (!body.isOk()) {
    w.send(500, "text/plain", "cannot read " + file + "\n");
    return true;
  }
  std::string cache = isAsset ? "public, max-age=31536000, immutable"
                              : (file == "/index.html" ? "no-cache" : "public, max-age=300");
  // HEAD too: the server sends the headers only.
  w.send(200, contentTypeFor(file), *body,
         {{"Cache-Control", cache}, {"X-Content-Type-Options", "nosniff"}});
  return true;
}

}  // namespace skiff::hub::api
