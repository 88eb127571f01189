// The route table: literal and {param} segments, a {rest...} parameter followed by literals,
// method dispatch (HEAD served by GET routes, "*" for any), and the two ways a request can miss
// (no such path, or the path with another method), which the server answers itself.
#include "common/http/router.h"

#include <gtest/gtest.h>

namespace skiff::common::http {
namespace {

class NullWriter final : public ResponseWriter {
 public:
  void send(int status, std::string_view, std::string_view,
            const std::map<std::string, std::string>&) override {
    this->status = status;
  }
  void startStream(int, std::string_view, const std::map<std::string, std::string>&) override {}
  bool writeChunk(std::string_view) override { return false; }
  bool cancelled() const override { return false; }
  bool responded() const override { return status != 0; }
  int status = 0;
};

Request request(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

TEST(RoutePatternTest, LiteralsParamsAndARestParameterFollowedByLiterals) {
  RouteParams p;
  EXPECT_TRUE(RoutePattern("/api/v1/devices/{id}").match(pathSegments("/api/v1/devices/pi-1"), p));
  EXPECT_EQ(p["id"], "pi-1");
  EXPECT_FALSE(RoutePattern("/api/v1/devices/{id}").match(pathSegments("/api/v1/devices"), p));
  EXPECT_FALSE(RoutePattern("/api/v1/devices/{id}").match(pathSegments("/api/v1/devices/a/b"), p));
  EXPECT_TRUE(RoutePattern("/a").match(pathSegments("//a/"), p)) << "empty segments are ignored";

  RoutePattern logs("/api/v1/devices/{id}/modules/{module...}/logs");
  p.clear();
  ASSERT_TRUE(logs.match(pathSegments("/api/v1/devices/pi-1/modules/web/app/logs"), p));
  EXPECT_EQ(p["id"], "pi-1");
  EXPECT_EQ(p["module"], "web/app");
  p.clear();
  ASSERT_TRUE(logs.match(pathSegments("/api/v1/devices/pi-1/modules/m/logs"), p));
  EXPECT_EQ(p["module"], "m");
  EXPECT_FALSE(logs.match(pathSegments("/api/v1/devices/pi-1/modules/logs"), p))
      << "{module...} takes at least one segment";
  EXPECT_FALSE(logs.match(pathSegments("/api/v1/devices/pi-1/modules/web/app/log"), p));
}

TEST(RouterTest, DispatchesByPathThenMethodAndReportsMisses) {
  std::string seen;
  Router<int> router;
  router
      .on("GET", "/things/{id}",
          [&](const Request&, ResponseWriter&, const RouteParams& p, int ctx) {
            seen = "get " + p.at("id") + " " + std::to_string(ctx);
          })
      .on("DELETE", "/things/{id}",
          [&](const Request&, ResponseWriter&, const RouteParams& p, int) {
            seen = "delete " + p.at("id");
          })
      .on("*", "/any", [&](const Request& r, ResponseWriter&, const RouteParams&, int) {
        seen = "any " + r.method;
      });
  NullWriter w;
  EXPECT_EQ(router.dispatch(request("GET", "/things/7"), w, 42), RouteOutcome::kHandled);
  EXPECT_EQ(seen, "get 7 42");
  EXPECT_EQ(router.dispatch(request("HEAD", "/things/8"), w, 1), RouteOutcome::kHandled);
  EXPECT_EQ(seen, "get 8 1");
  EXPECT_EQ(router.dispatch(request("DELETE", "/things/9"), w, 0), RouteOutcome::kHandled);
  EXPECT_EQ(seen, "delete 9");
  EXPECT_EQ(router.dispatch(request("PATCH", "/any"), w, 0), RouteOutcome::kHandled);
  EXPECT_EQ(seen, "any PATCH");
  seen.clear();
  EXPECT_EQ(router.dispatch(request("PUT", "/things/9"), w, 0), RouteOutcome::kMethodNotAllowed);
  EXPECT_EQ(router.dispatch(request("GET", "/nothing"), w, 0), RouteOutcome::kNoRoute);
  EXPECT_EQ(seen, "");
  EXPECT_EQ(w.status, 0) << "misses are answered by the server, not the router";
}

}  // namespace
}  // namespace skiff::common::http
