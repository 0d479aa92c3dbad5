// The device-mapper control node as libdevmapper's process-global state sees it.
//
// libdevmapper checks the driver once per process (dm_check_version): when
// its first contact fails (dm_mod not loaded yet, no /dev/mapper/control),
// it remembers the failure and every later dm_task_create fails with no
// errno until the process restarts. ReachDriver makes that first contact
// itself, on a private fd, and lets libdevmapper try only once it works.
//
// libdevmapper opens its control fd without O_CLOEXEC, so every child
// process (mkfs, lvm, a runtime's children) would inherit it;
// MarkControlFdCloexec sets FD_CLOEXEC on it once it is open.
// Use both only while holding a DmLock.
#pragma once

#include "dm_lock.h"
#include "dm_task.h"

namespace dmaddon {

// Throws the OpError of the first contact (ENOENT, ENXIO, EACCES...) until
// the driver answers DM_VERSION once; from then on returns at once.
void ReachDriver(DmLock& lock, const CallContext& call);

// Whether the driver answered once (false: ReachDriver has not succeeded yet).
bool DriverReached();

// Sets FD_CLOEXEC on every fd of this process open on the control node,
// which includes libdevmapper's. Cheap after the first time it found one.
void MarkControlFdCloexec();

}  // namespace dmaddon
