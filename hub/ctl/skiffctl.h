// skiffctl: the fleet operator's CLI over the hub's gRPC API (docs/hub.md "skiffctl").
//
//   skiffctl [--server host:port] [--ca FILE] [--token T | --token-file F] [--config FILE]
//            [-o table|json] [--timeout 30s] COMMAND ...
//   device add ID [-l k=v]... [--enroll [--ttl 1h]] | list [-l SELECTOR] | get ID
//          | label ID k=v... k-... | remove ID
//   token create DEVICE [--ttl 1h]
//   deploy apply -f FILE|- | list [-l SELECTOR] | get ID | status ID | delete ID
//   logs DEVICE MODULE [-f] [--tail N] [--since 10m] [--timestamps]
//   fleet
//
// Flags also come from the environment (SKIFF_HUB_SERVER, SKIFF_HUB_CA, SKIFF_HUB_TOKEN,
// SKIFFCTL_CONFIG) and a TOML config file (server, ca, token — `skiff-hub init` writes one).
// Exit codes: 0 ok, 1 other errors, 2 usage (flags, arguments, manifest files), 3 not
// authenticated / not allowed, 4 not found, 5 hub or device unavailable, 6 already exists.
#pragma once

#include <ostream>
#include <stop_token>

namespace skiff::hub::ctl {

// stop (Ctrl-C) cancels the running call; following logs then end with exit code 0.
int runSkiffctl(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
                std::stop_token stop = {});

}  // namespace skiff::hub::ctl
