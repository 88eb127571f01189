// The controllers' work queue is common::WorkQueue (common/work_queue.h), shared with the virtual
// node's pod and node controllers; this header keeps the controllers' spelling.
#pragma once

#include "common/work_queue.h"

namespace skiff::control_plane::controllers {

using common::WorkQueue;

}  // namespace skiff::control_plane::controllers
