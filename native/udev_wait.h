// Waiting for udev's answer to a cookie, outside the DmLock and with a deadline.
//
// libdevmapper's dm_udev_wait blocks on the cookie's SysV semaphore with no
// timeout, and it would do so under the one lock: a lost cookie (udevd
// stalled or restarted) would hang every later call of the process. This
// does what dm_udev_wait does (decrement, wait for zero, remove the
// semaphore, then carry out the stacked node operations) with semtimedop,
// so a lost cookie fails only the call it belongs to, with ETIMEDOUT.
#pragma once

#include <cstdint>
#include <vector>

#include "dm_lock.h"
#include "dm_task.h"

namespace dmaddon {

// How long a call waits for udev unless told otherwise (udevTimeoutMs).
// Long enough for udev to work through a backlog of events on a busy host
// (every dm uevent runs `dmsetup udevcomplete`), short enough to end a hang.
constexpr uint64_t kDefaultUdevTimeoutMs = 120000;

// Releases `lock`, then waits for the cookies it collected. Throws an
// OpError ETIMEDOUT for `call` when udev has not answered within timeoutMs.
void ReleaseAndWaitForUdev(DmLock& lock, const CallContext& call, uint64_t timeoutMs);

// The same for cookies already taken, without the lock held, dropping errors.
void WaitForUdevQuietly(const std::vector<uint32_t>& cookies, uint64_t timeoutMs);

}  // namespace dmaddon
