// Flag validation (edge_agent/options.h): every error names the flag.
#include "edge_agent/options.h"

#include <gtest/gtest.h>

#include "edge_agent/enrollment.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;

TEST(OptionsTest, ValidationNamesTheFlag) {
  Options o;
  o.stateDir = "/var/lib/skiff-agent";
  EXPECT_TRUE(validate(o).isOk());
  Options rel = o;
  rel.stateDir = "state";
  EXPECT_NE(validate(rel).message().find("--state-dir"), std::string::npos);
  Options eng = o;
  eng.engineSocket = "docker.sock";
  EXPECT_NE(validate(eng).message().find("--engine"), std::string::npos);
  Options mq = o;
  mq.mqttUrl = "http://broker";
  EXPECT_NE(validate(mq).message().find("--mqtt-url"), std::string::npos);
  Options bo = o;
  bo.crashLoopBackoff = 10min;
  EXPECT_NE(validate(bo).message().find("--crash-loop-backoff"), std::string::npos);
  Options en = o;
  en.command = "enroll";
  en.hub = "http://hub";
  en.token = "t";
  en.insecureSkipTlsVerifyForEnroll = true;
  EXPECT_NE(validate(en).message().find("--hub"), std::string::npos);
  en.hub = "https://hub:8443";
  EXPECT_TRUE(validate(en).isOk());
  en.caSha256 = "ab";
  EXPECT_NE(validate(en).message().find("exactly one"), std::string::npos);
  en.insecureSkipTlsVerifyForEnroll = false;
  EXPECT_NE(validate(en).message().find("--ca-sha256"), std::string::npos);
  en.caSha256 = "SHA256:" + std::string(32, 'A') + ":" + std::string(32, 'b');
  EXPECT_TRUE(validate(en).isOk()) << validate(en);
  EXPECT_EQ(*normalizeFingerprint(en.caSha256), std::string(32, 'a') + std::string(32, 'b'));
  en.caSha256.clear();
  en.caFile = "/nonexistent/ca.pem";
  EXPECT_NE(validate(en).message().find("--ca-file"), std::string::npos);
}

}  // namespace
}  // namespace skiff::edge_agent
