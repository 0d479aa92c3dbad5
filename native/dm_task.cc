#include "dm_task.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "dm_control.h"
#include "errors.h"

namespace dmaddon {

void Fail(DmLock& lock, const CallContext& call, int errnum, const std::string& what) {
  if (errnum <= 0) errnum = lock.LoggedErrno();
  throw OpError(errnum, call.op, call.device, what, lock.TakeLog());
}

namespace {

// The driver is reached (dm_control.h) before libdevmapper sees it, so a
// failed first contact is never cached by libdevmapper for the process.
dm_task* CreateTask(DmLock& lock, const CallContext& call, int type) {
  ReachDriver(lock, call);
  return dm_task_create(type);
}

}  // namespace

Task::Task(DmLock& lock, const CallContext& call, int type)
    : lock_(lock), call_(call), type_(type), dmt_(CreateTask(lock, call, type)) {
  // dm_task_create also checks the driver version, opening /dev/mapper/control;
  // it logs why that failed only the first time and never passes the errno on.
  // Opening the node here tells the caller why (ENOENT, ENODEV, EACCES...).
  if (dmt_ == nullptr) {
    int errnum = 0;
    int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      errnum = errno;
    } else {
      close(fd);
    }
    Fail(lock_, call_, errnum, "cannot reach the device-mapper driver (/dev/mapper/control)");
  }
}

Task::~Task() {
  if (cookieSet_) {
    // Set but never run: release the semaphore ourselves, or the wait would hang.
    dm_udev_complete(cookie_);
    dm_udev_wait(cookie_);
  }
  if (syncOff_) dm_udev_set_sync_support(1);
  dm_task_destroy(dmt_);
}

void Task::SetName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) {
    Fail(lock_, call_, EINVAL, "a device name must be non-empty and contain no '/'");
  }
  Require(dm_task_set_name(dmt_, name.c_str()), "invalid device name");
}

void Task::Require(int ok, const char* what) {
  if (!ok) Fail(lock_, call_, EINVAL, what);
}

void Task::SetCookie(UdevMode mode, uint16_t flags) {
  switch (mode) {
    case UdevMode::kSkip:
      // What LVM does with udev_rules=0: every rule off for this device, so
      // udev makes no link and runs no scan, and libdevmapper makes the node.
      flags |= DM_UDEV_DISABLE_DM_RULES_FLAG | DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG |
               DM_UDEV_DISABLE_DISK_RULES_FLAG | DM_UDEV_DISABLE_OTHER_RULES_FLAG;
      flags &= ~DM_UDEV_DISABLE_LIBRARY_FALLBACK;
      if (dm_udev_get_sync_support()) {
        dm_udev_set_sync_support(0);
        syncOff_ = true;
      }
      break;
    case UdevMode::kPrivate:
      flags |= DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG | DM_UDEV_DISABLE_DISK_RULES_FLAG |
               DM_UDEV_DISABLE_OTHER_RULES_FLAG;
      [[fallthrough]];
    case UdevMode::kWait:
      // udev makes the node; libdevmapper's global node-operation list must
      // not make it first when another call flushes that list. A removal
      // keeps the fallback: deleting a node early is harmless, and it also
      // deletes a node libdevmapper made itself (kSkip), which udev would not.
      if (dm_udev_get_sync_support() && type_ != DM_DEVICE_REMOVE) flags |= DM_UDEV_DISABLE_LIBRARY_FALLBACK;
      break;
  }
  // With udev sync this creates a SysV semaphore that udev's 95-dm-notify
  // rule releases; without it the cookie is 0 and only carries the flags.
  if (!dm_task_set_cookie(dmt_, &cookie_, flags)) Fail(lock_, call_, 0, "cannot set the udev cookie");
  cookieSet_ = true;
}

int Task::TryRun() {
  int ok = dm_task_run(dmt_);
  int errnum = ok ? 0 : dm_task_get_errno(dmt_);
  MarkControlFdCloexec();
  if (cookieSet_) {
    cookieSet_ = false;
    if (ok && cookie_ != 0) {
      lock_.AddCookie(cookie_);  // waited for once the lock is released
    } else {
      // No semaphore (no udev sync, or kSkip), or a failed run whose
      // semaphore libdevmapper already released: returns at once, carrying
      // out the stacked node operations.
      dm_udev_wait(cookie_);
    }
    if (syncOff_) {
      dm_udev_set_sync_support(1);
      syncOff_ = false;
    }
  }
  if (ok) return 0;
  return errnum > 0 ? errnum : -1;
}

void Task::Run(const char* what) {
  int errnum = TryRun();
  if (errnum != 0) Fail(lock_, call_, errnum, what);
}

DeviceInfo Task::Info() {
  dm_info raw{};
  if (!dm_task_get_info(dmt_, &raw)) Fail(lock_, call_, 0, "cannot read the device info");
  DeviceInfo info;
  info.exists = raw.exists != 0;
  if (!info.exists) return info;
  const char* name = dm_task_get_name(dmt_);
  const char* uuid = dm_task_get_uuid(dmt_);
  info.name = name ? name : "";
  info.uuid = uuid ? uuid : "";
  info.major = raw.major;
  info.minor = raw.minor;
  info.openCount = raw.open_count;
  info.eventNr = raw.event_nr;
  info.targetCount = raw.target_count;
  info.suspended = raw.suspended != 0;
  info.readOnly = raw.read_only != 0;
  info.liveTable = raw.live_table != 0;
  info.inactiveTable = raw.inactive_table != 0;
  info.deferredRemove = raw.deferred_remove != 0;
  return info;
}

DeviceInfo GetInfo(DmLock& lock, const CallContext& call, const std::string& name) {
  // DM_DEV_STATUS ioctl. In: name. Out flags: DM_SUSPEND_FLAG,
  // DM_READONLY_FLAG, DM_ACTIVE_PRESENT_FLAG, DM_INACTIVE_PRESENT_FLAG,
  // DM_DEFERRED_REMOVE. A missing device is ENXIO, which libdevmapper
  // turns into success with exists = 0.
  Task task(lock, call, DM_DEVICE_INFO);
  task.SetName(name);
  task.Run("cannot get device info");
  return task.Info();
}

}  // namespace dmaddon
