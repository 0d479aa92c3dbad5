#include "udev_wait.h"

#include <libdevmapper.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <string>

#include "errors.h"

namespace dmaddon {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for one cookie until `deadline`; false when it did not come in time.
// The semaphore is removed either way, so a late answer from udev finds
// nothing (udev's `dmsetup udevcomplete` just logs that).
bool WaitOne(uint32_t cookie, Clock::time_point deadline) {
  // libdevmapper keys the semaphore by the cookie itself (_get_cookie_sem).
  int semid = semget(static_cast<key_t>(cookie), 1, 0);
  if (semid < 0) return true;  // already gone: nothing left to wait for
  // The value is 1 plus one per task that ran with the cookie, minus one per
  // udev answer; take our 1 away, then wait for zero (as _udev_wait does).
  sembuf dec{0, -1, IPC_NOWAIT};
  bool answered = true;
  if (semop(semid, &dec, 1) == 0) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        answered = false;
        break;
      }
      timespec timeout{static_cast<time_t>(left.count() / 1000000000), static_cast<long>(left.count() % 1000000000)};
      sembuf zero{0, 0, 0};
      if (semtimedop(semid, &zero, 1, &timeout) == 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        answered = false;
        break;
      }
      break;  // EIDRM or anything else: nothing more to wait for
    }
  }
  semctl(semid, 0, IPC_RMID);
  return answered;
}

// Waits for every cookie; how many did not come in time.
size_t WaitAll(const std::vector<uint32_t>& cookies, uint64_t timeoutMs) {
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  size_t lost = 0;
  for (uint32_t cookie : cookies) {
    if (!WaitOne(cookie, deadline)) lost++;
  }
  // The node operations libdevmapper stacked for these tasks (read-ahead;
  // nodes themselves are udev's here) are carried out under the lock.
  DmLock lock;
  dm_task_update_nodes();
  lock.TakeLog();
  return lost;
}

}  // namespace

void ReleaseAndWaitForUdev(DmLock& lock, const CallContext& call, uint64_t timeoutMs) {
  std::vector<uint32_t> cookies = lock.TakeCookies();
  lock.Release();
  if (cookies.empty()) return;
  if (WaitAll(cookies, timeoutMs) > 0) {
    throw OpError(ETIMEDOUT, call.op, call.device,
                  "udev did not answer within " + std::to_string(timeoutMs) + " ms (its cookie is lost)");
  }
}

void WaitForUdevQuietly(const std::vector<uint32_t>& cookies, uint64_t timeoutMs) {
  if (!cookies.empty()) WaitAll(cookies, timeoutMs);
}

}  // namespace dmaddon
