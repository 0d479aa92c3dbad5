// A dm_task wrapped for this addon: destroyed on scope exit, failures thrown
// as OpError with the errno (dm_task_get_errno) and the captured log, and the
// udev cookie always waited for. Use only while holding a DmLock.
#pragma once

#include <libdevmapper.h>

#include <cstdint>
#include <string>

#include "dm_lock.h"

namespace dmaddon {

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
  // dm_task_set_cookie with `flags` (DM_UDEV_*). Call it last, right before
  // Run: a cookie that is set must be waited for, and Run does that.
  void SetCookie(uint16_t flags);

  // dm_task_run, then dm_udev_wait when a cookie is set (this flushes the
  // stacked node operations, i.e. creates/renames/removes /dev/mapper nodes
  // when udev does not). Returns 0 on success, else the errno (-1 when
  // libdevmapper gave none).
  int TryRun();
  // TryRun, throwing on failure with "`what`" as the message.
  void Run(const char* what);
  // dm_task_get_info after a successful run.
  DeviceInfo Info();

 private:
  DmLock& lock_;
  const CallContext& call_;
  dm_task* dmt_;
  uint32_t cookie_ = 0;
  bool cookieSet_ = false;
};

// DM_DEVICE_INFO for `name`; exists=false when there is no such device.
DeviceInfo GetInfo(DmLock& lock, const CallContext& call, const std::string& name);

}  // namespace dmaddon
