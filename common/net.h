// Network address helpers shared by listeners and clients.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace skiff::common {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string toString() const;
};

// Parses "host:port", "[v6]:port" or ":port" (host defaults to 127.0.0.1). Port 0 is allowed
// (ephemeral). InvalidArgument names the text on failure.
Result<HostPort> parseHostPort(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters (a query value, a path segment).
std::string urlEncode(std::string_view s);

}  // namespace skiff::common
