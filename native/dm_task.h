// A dm_task wrapped for this addon: destroyed on scope exit, failures thrown
// as OpError with the errno (dm_task_get_errno) and the captured log, and the
// udev cookie always waited for. Use only while holding a DmLock.
#pragma once

#include <libdevmapper.h>

#include <cstdint>
#include <string>

#include "dm_lock.h"

namespace dmaddon {

// How a node-changing task deals with udev.
enum class UdevMode {
  kWait,     // udev runs every rule, makes /dev/mapper/NAME and /dev/disk links; wait for it
  kPrivate,  // udev makes /dev/mapper/NAME only (no scan, no other rules); wait for it
  kSkip,     // udev runs no rule for the device and is not waited for; libdevmapper makes the node
};

// The op and device an error reports.
struct CallContext {
  std::string op;
  std::string device;
};

// What DM_DEVICE_INFO says about one device.
struct DeviceInfo {
  bool exists = false;
  std::string name;
  std::string uuid;
  uint32_t major = 0;
  uint32_t minor = 0;
  int32_t openCount = 0;
  uint32_t eventNr = 0;
  int32_t targetCount = 0;
  bool suspended = false;
  bool readOnly = false;
  bool liveTable = false;
  bool inactiveTable = false;
  bool deferredRemove = false;
};

// Throws the OpError for this call: `errnum`, else the errno libdevmapper
// logged, else 0; the captured log lines go with it.
[[noreturn]] void Fail(DmLock& lock, const CallContext& call, int errnum, const std::string& what);

class Task {
 public:
  Task(DmLock& lock, const CallContext& call, int type);
  ~Task();
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  dm_task* get() const { return dmt_; }

  // dm_task_set_name; refuses '' and names with '/', which libdevmapper
  // would take for a path to look up.
  void SetName(const std::string& name);
  // Throws EINVAL naming `what` when a dm_task_set_* call returned 0.
  void Require(int ok, const char* what);
  // dm_task_set_cookie for `mode` plus `flags` (DM_UDEV_*). Call it last,
  // right before Run. kSkip turns libdevmapper's udev sync off until the
  // task has run (the cookie then only carries the flags, which udev's
  // `dmsetup udevcomplete` ignores); the other modes leave the nodes to udev
  // (DM_UDEV_DISABLE_LIBRARY_FALLBACK) when udev sync is on.
  void SetCookie(UdevMode mode, uint16_t flags = 0);

  // dm_task_run. With a cookie: on success the lock collects it, to be waited
  // for once the lock is released (udev_wait.h); without udev sync (or on
  // failure) dm_udev_wait returns at once and carries out the stacked node
  // operations, i.e. libdevmapper makes/renames/removes /dev/mapper nodes.
  // Returns 0 on success, else the errno (-1 when libdevmapper gave none).
  int TryRun();
  // TryRun, throwing on failure with "`what`" as the message.
  void Run(const char* what);
  // dm_task_get_info after a successful run.
  DeviceInfo Info();

 private:
  DmLock& lock_;
  const CallContext& call_;
  int type_;
  dm_task* dmt_;
  uint32_t cookie_ = 0;
  bool cookieSet_ = false;
  bool syncOff_ = false;  // kSkip turned udev sync off for this task
};

// DM_DEVICE_INFO for `name`; exists=false when there is no such device.
DeviceInfo GetInfo(DmLock& lock, const CallContext& call, const std::string& name);

}  // namespace dmaddon
