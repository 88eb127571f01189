// Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3"): parsing to integers in
// milli-units (cpu) or base units (memory, pods), exactly (no floating point) and rounded up as
// Kubernetes' Quantity.MilliValue()/Value() do. Used by the scheduler and the edge provider.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace skiff::common {

// The quantity in milli-units (e.g. "100m" → 100, "2" → 2000, "1Ki" → 1024000).
// InvalidArgument on malformed text or when the result does not fit in 64 bits ("10Ei").
Result<std::int64_t> parseQuantityMilli(std::string_view text);

// The quantity rounded up to whole units ("128Mi" → 134217728, "500m" → 1).
Result<std::int64_t> parseQuantity(std::string_view text);

}  // namespace skiff::common
