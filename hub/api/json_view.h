// The REST/SSE JSON form of the hub's objects (docs/hub-api.md): the gRPC messages in
// lowerCamelCase with every field present, int64 values as JSON numbers, and the *_json string
// fields embedded as JSON values under their name without the suffix (reportedJson ->
// reported, podsJson -> pods, ...; null when empty); a deployment also lists each of its
// containers as a module {name: "<pod>/<container>", image, kind}. Pure functions.
#pragma once

#include "common/json.h"
#include "common/status.h"
#include "hub/fleet/fleet_event.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::hub::api {

common::Json toJson(const v1::Device& d);
// The SSE `device-heartbeat` document: {"id", "lastSeenUnixMs", "metrics"}.
common::Json heartbeatJson(const v1::Device& d);
// Status counts always; status.devices only when the message carries them.
common::Json toJson(const v1::Deployment& d, bool withDevices);
common::Json toJson(const v1::FleetStatus& s);
common::Json toJson(const fleet::FleetEvent& e);
// {"error": {"code": "NotFound", "message": …}}
common::Json errorJson(const common::Status& s);
// HTTP status for a Status code (400, 401, 403, 404, 409, 413, 503, 504, 500).
int httpStatusOf(const common::Status& s);

}  // namespace skiff::hub::api
