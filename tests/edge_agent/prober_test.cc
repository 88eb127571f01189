// Probes (edge_agent/prober.h): tcpSocket against a real loopback socket, exec through a mocked
// engine.
#include "edge_agent/prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/mocks/container_engine_mock.h"

namespace skiff::edge_agent {
namespace {

namespace protocol = common::protocol;

TEST(ProbeTest, TcpSocketAndExecProbes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  ::testing::NiceMock<test::MockContainerIo> io;
  protocol::Probe tcp;
  tcp.kind = protocol::Probe::Kind::kTcpSocket;
  tcp.port = 80;
  // No host: a published port is probed on the device's loopback.
  ProbeTarget target{"cid", "", {{80, port, "TCP", ""}}};
  EXPECT_TRUE(runProbe(io, tcp, target).isOk());
  ::close(fd);
  auto closed = runProbe(io, tcp, target);
  EXPECT_FALSE(closed.isOk());
  EXPECT_NE(closed.message().find(std::to_string(port)), std::string::npos) << closed;

  protocol::Probe exec;
  exec.kind = protocol::Probe::Kind::kExec;
  exec.command = {"cat", "/tmp/healthy"};
  exec.timeoutSeconds = 2;
  EXPECT_CALL(io, exec("cid", exec.command, std::chrono::milliseconds(2000)))
      .WillOnce(::testing::Return(engine::ExecResult{0, ""}))
      .WillOnce(::testing::Return(engine::ExecResult{1, "No such file"}))
      .WillOnce(::testing::Return(common::deadlineExceeded("exec timed out")));
  EXPECT_TRUE(runProbe(io, exec, target).isOk());
  auto failed = runProbe(io, exec, target);
  EXPECT_NE(failed.message().find("exited with 1: No such file"), std::string::npos) << failed;
  EXPECT_EQ(runProbe(io, exec, target).code(), common::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace skiff::edge_agent
