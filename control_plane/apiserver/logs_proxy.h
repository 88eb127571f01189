// pods/log: streams a container's log from the kubelet endpoint the pod's Node advertises
// (status.addresses + status.daemonEndpoints.kubeletEndpoint.Port), HTTPS via libcurl.
#pragma once

#include <optional>

#include "common/http/server.h"
#include "common/json.h"
#include "common/tls.h"
#include "control_plane/apiserver/errors.h"

namespace skiff::control_plane::apiserver {

// Writes the log (or returns the error to send). Blocks while following.
std::optional<ApiError> proxyContainerLogs(const common::http::Request& req,
                                           const common::Json& pod, const common::Json& node,
                                           const common::tls::TlsFiles& kubeletClient,
                                           common::http::ResponseWriter& w);

}  // namespace skiff::control_plane::apiserver
