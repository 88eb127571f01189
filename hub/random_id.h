// Random identifiers and secrets for the hub (bearer tokens, enrollment tokens, RPC request ids):
// characters of [A-Za-z0-9] from OpenSSL's CSPRNG. Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace skiff::hub {

std::string randomAlnum(std::size_t length);

}  // namespace skiff::hub
