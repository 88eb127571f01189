// Self-test of EtcdFixture: etcdctl put/get, and the value survives restart().
#include "tests/support/etcd.h"

#include <gtest/gtest.h>

#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

TEST(EtcdFixtureTest, PutGetSurvivesRestart) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto etcd, EtcdFixture::create());
  EXPECT_EQ(etcd->endpoint(), "127.0.0.1:" + std::to_string(etcd->clientPort()));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto put, etcd->etcdctl({"put", "k", "v"}));
  ASSERT_EQ(put.exitCode, 0) << put.output;
  EXPECT_NE(put.output.find("OK"), std::string::npos) << put.output;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto get, etcd->etcdctl({"get", "k"}));
  ASSERT_EQ(get.exitCode, 0) << get.output;
  EXPECT_EQ(get.output, "k\nv\n");

  SKIFF_ASSERT_OK(etcd->restart());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto again, etcd->etcdctl({"get", "k", "--print-value-only"}));
  ASSERT_EQ(again.exitCode, 0) << again.output;
  EXPECT_EQ(again.output, "v\n");
}

TEST(EtcdFixtureTest, StoppedEtcdIsUnreachable) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto etcd, EtcdFixture::create());
  etcd->stop();
  EXPECT_FALSE(etcd->isRunning());
  EXPECT_FALSE(tcpConnects(etcd->clientPort()));
}

}  // namespace
}  // namespace skiff::test
