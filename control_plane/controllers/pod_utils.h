// Pod state predicates shared by the workload controllers.
#pragma once

#include "common/json.h"

namespace skiff::control_plane::controllers {

bool podIsTerminal(const common::Json& pod);  // phase Succeeded or Failed
bool podIsDeleting(const common::Json& pod);  // deletionTimestamp set
bool podIsActive(const common::Json& pod);    // neither of the above
bool podIsReady(const common::Json& pod);     // Ready condition True
common::Json podTemplateLabels(const common::Json& owner);

}  // namespace skiff::control_plane::controllers
