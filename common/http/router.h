// One route table for an HTTP server (the hub's REST API, the virtual node's kubelet endpoint):
// method + path pattern → handler, instead of each server comparing path segments by hand.
//
// Patterns are "/"-separated segments: a literal, `{name}` (exactly one segment) or, at most
// once, `{name...}` (one or more segments, slashes kept: module names like "web/app"), which
// may be followed by literals ("/devices/{id}/modules/{module...}/logs"). Empty segments of
// the request path are ignored ("//a/" is "/a"). Method "*" takes any method; a "GET" route
// also serves HEAD (the server drops the body). Routes are tried in the order they were added.
//
// dispatch() does not write errors itself: a server answers "no such path" and "wrong method"
// in its own format (the hub's JSON errors, the kubelet's text).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/http/server.h"

namespace skiff::common::http {

using RouteParams = std::map<std::string, std::string, std::less<>>;

// The non-empty segments of a path.
std::vector<std::string> pathSegments(std::string_view path);

class RoutePattern {
 public:
  explicit RoutePattern(std::string_view pattern);
  // True when segments fit the pattern; params gets the named parts.
  bool match(const std::vector<std::string>& segments, RouteParams& params) const;

 private:
  struct Part {
    std::string text;  // the literal, or the parameter's name
    bool param = false;
    bool rest = false;
  };
  bool matchFixed(const std::vector<std::string>& segments, std::size_t from, std::size_t partFrom,
                  std::size_t count, RouteParams& params) const;
  std::vector<Part> parts_;
  std::size_t restAt_;  // index of the {name...} part, or parts_.size()
};

enum class RouteOutcome { kHandled, kNoRoute, kMethodNotAllowed };

// Ctx...: what the server hands every handler besides the request (the hub: the authenticated
// principal).
template <typename... Ctx>
class Router {
 public:
  using RouteHandler =
      std::function<void(const Request&, ResponseWriter&, const RouteParams&, Ctx...)>;

  Router& on(std::string method, std::string_view pattern, RouteHandler handler) {
    routes_.push_back({std::move(method), RoutePattern(pattern), std::move(handler)});
    return *this;
  }

  RouteOutcome dispatch(const Request& req, ResponseWriter& w, Ctx... ctx) const {
    const auto segments = pathSegments(req.path);
    bool pathMatched = false;
    for (const auto& r : routes_) {
      RouteParams params;
      if (!r.pattern.match(segments, params)) continue;
      pathMatched = true;
      if (r.method == "*" || r.method == req.method ||
          (r.method == "GET" && req.method == "HEAD")) {
        r.handler(req, w, params, ctx...);
        return RouteOutcome::kHandled;
      }
    }
    return pathMatched ? RouteOutcome::kMethodNotAllowed : RouteOutcome::kNoRoute;
  }

 private:
  struct Route {
    std::string method;
    RoutePattern pattern;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace skiff::common::http
