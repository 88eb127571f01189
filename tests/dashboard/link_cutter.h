// LinkCutter: a loopback TCP forwarder that can cut the connections it carries, so a simulated
// device "drops off the network" for real. A device connects to port() instead of the broker;
// every accepted connection is forwarded to 127.0.0.1:<target>. cut() shuts down both sides of
// every forwarded connection (the broker sees the socket close without an MQTT DISCONNECT, as
// when an agent crashes, and publishes the device's Last Will) and refuses new connections until
// restore() (the device's reconnect attempts fail, as while the network is down).
//
// Threading: thread-safe; one thread accepts, one thread per forwarded connection pumps bytes.
// The destructor cuts everything and joins the threads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/status.h"

namespace skiff::test {

class LinkCutter {
 public:
  // Listens on 127.0.0.1:<ephemeral>. Unavailable if the socket cannot be bound.
  static common::Result<std::unique_ptr<LinkCutter>> start(int targetPort);
  ~LinkCutter();
  LinkCutter(const LinkCutter&) = delete;
  LinkCutter& operator=(const LinkCutter&) = delete;

  int port() const { return port_; }
  // Closes every forwarded connection and refuses new ones. Returns the number closed.
  int cut();
  void restore();
  bool isCut() const { return cut_.load(); }
  int connections() const;

 private:
  LinkCutter(int listenFd, int port, int targetPort);
  void acceptLoop();
  void pump(int client, int upstream);

  const int listenFd_;
  const int port_;
  const int targetPort_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::set<int> open_;  // fds of live forwarded connections (both sides)
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace skiff::test
