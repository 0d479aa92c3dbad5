// The device-mapper calls of the binding: one dm_task (or a short sequence)
// per call, run on the libuv pool under the global DmLock.
//
// Flags are those of linux/dm-ioctl.h; each call notes which ones its ioctl
// reads ("In") and reports ("Out"), as the kernel documents them.
#include <libdevmapper.h>
#include <linux/dm-ioctl.h>
#include <napi.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "async_job.h"
#include "dm_lock.h"
#include "dm_task.h"
#include "errors.h"
#include "exports.h"
#include "js_args.h"
#include "udev_wait.h"

namespace dmaddon {
namespace {

// ---------------------------------------------------------------- helpers --

// The udev options of a node-changing call: `udev` ('wait', 'private' or
// 'skip'; `udevPrivate: true` is 'private') and `udevTimeoutMs`.
struct UdevChoice {
  UdevMode mode = UdevMode::kWait;
  uint64_t timeoutMs = kDefaultUdevTimeoutMs;
};

UdevChoice UdevOption(const Napi::Object& options) {
  UdevChoice choice;
  if (BoolOption(options, "udevPrivate", false)) choice.mode = UdevMode::kPrivate;
  if (std::optional<std::string> mode = StringOption(options, "udev")) {
    if (*mode == "wait") {
      choice.mode = UdevMode::kWait;
    } else if (*mode == "private") {
      choice.mode = UdevMode::kPrivate;
    } else if (*mode == "skip") {
      choice.mode = UdevMode::kSkip;
    } else {
      throw Napi::TypeError::New(options.Env(), "udev must be 'wait', 'private' or 'skip'");
    }
  }
  choice.timeoutMs = U64Option(options, "udevTimeoutMs").value_or(kDefaultUdevTimeoutMs);
  return choice;
}

void AddTargets(Task& task, const std::vector<TableRow>& table) {
  for (const TableRow& row : table) {
    task.Require(dm_task_add_target(task.get(), row.start, row.length, row.targetType.c_str(),
                                    row.params.c_str()),
                 "cannot add a table row");
  }
}

// The rows of a DM_DEVICE_TABLE or DM_DEVICE_STATUS task that has run.
std::vector<TableRow> ReadRows(Task& task) {
  std::vector<TableRow> rows;
  void* next = nullptr;
  do {
    uint64_t start = 0, length = 0;
    char* type = nullptr;
    char* params = nullptr;
    next = dm_get_next_target(task.get(), next, &start, &length, &type, &params);
    if (type != nullptr) rows.push_back({start, length, type, params ? params : ""});
  } while (next != nullptr);
  return rows;
}

// A missing device makes some ioctls "succeed" with exists = 0 (libdevmapper
// maps ENXIO that way for DM_DEVICE_STATUS); report it as ENXIO.
void RequireExists(DmLock& lock, const CallContext& call, Task& task) {
  if (!task.Info().exists) Fail(lock, call, ENXIO, "no such device");
}

Napi::Value RowsToJs(Napi::Env env, std::vector<TableRow>& rows) {
  Napi::Array array = Napi::Array::New(env, rows.size());
  for (uint32_t i = 0; i < rows.size(); i++) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("start", Napi::Number::New(env, static_cast<double>(rows[i].start)));
    row.Set("length", Napi::Number::New(env, static_cast<double>(rows[i].length)));
    row.Set("targetType", Napi::String::New(env, rows[i].targetType));
    row.Set("params", Napi::String::New(env, rows[i].params));
    array.Set(i, row);
  }
  return array;
}

Napi::Value InfoToJs(Napi::Env env, DeviceInfo& info) {
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("exists", Napi::Boolean::New(env, info.exists));
  obj.Set("name", Napi::String::New(env, info.name));
  obj.Set("uuid", Napi::String::New(env, info.uuid));
  obj.Set("major", Napi::Number::New(env, info.major));
  obj.Set("minor", Napi::Number::New(env, info.minor));
  obj.Set("openCount", Napi::Number::New(env, info.openCount));
  obj.Set("eventNr", Napi::Number::New(env, info.eventNr));
  obj.Set("targetCount", Napi::Number::New(env, info.targetCount));
  obj.Set("suspended", Napi::Boolean::New(env, info.suspended));
  obj.Set("readOnly", Napi::Boolean::New(env, info.readOnly));
  obj.Set("liveTable", Napi::Boolean::New(env, info.liveTable));
  obj.Set("inactiveTable", Napi::Boolean::New(env, info.inactiveTable));
  obj.Set("deferredRemove", Napi::Boolean::New(env, info.deferredRemove));
  return obj;
}

// Whether the driver that ran `task` is at least major.minor.
bool DriverAtLeast(Task& task, unsigned wantMajor, unsigned wantMinor) {
  char text[64] = {0};
  unsigned major = 0, minor = 0;
  if (!dm_task_get_driver_version(task.get(), text, sizeof text)) return false;
  if (sscanf(text, "%u.%u", &major, &minor) != 2) return false;
  return major > wantMajor || (major == wantMajor && minor >= wantMinor);
}

// -------------------------------------------------------------- the calls --

struct Versions {
  std::string library;
  std::string driver;
};

Napi::Value Version(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    return Job<Versions>::Start(
        info.Env(), "version",
        [] {
          DmLock lock;
          CallContext call{"version", ""};
          Versions versions;
          char text[128] = {0};
          dm_get_library_version(text, sizeof text);
          versions.library = text;
          // DM_VERSION ioctl. No flags.
          Task task(lock, call, DM_DEVICE_VERSION);
          task.Run("cannot read the driver version");
          std::memset(text, 0, sizeof text);
          if (!dm_task_get_driver_version(task.get(), text, sizeof text)) {
            Fail(lock, call, 0, "cannot read the driver version");
          }
          versions.driver = text;
          return versions;
        },
        [](Napi::Env env, Versions& versions) -> Napi::Value {
          Napi::Object obj = Napi::Object::New(env);
          obj.Set("library", versions.library);
          obj.Set("driver", versions.driver);
          return obj;
        });
  });
}

Napi::Value UdevSyncSupported(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    return Job<bool>::Start(
        info.Env(), "udevSyncSupported",
        [] {
          DmLock lock;
          // True only when compiled with udev support, SysV semaphores work
          // and udevd was running (/run/udev/control) when libdevmapper first
          // checked, which it does once per process.
          return dm_udev_get_sync_support() != 0;
        },
        [](Napi::Env env, bool& supported) -> Napi::Value { return Napi::Boolean::New(env, supported); });
  });
}

struct ListEntry {
  std::string name;
  uint32_t major;
  uint32_t minor;
  uint32_t eventNr;
  bool haveEventNr;
};

Napi::Value List(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    return Job<std::vector<ListEntry>>::Start(
        info.Env(), "list",
        [] {
          DmLock lock;
          CallContext call{"list", ""};
          std::vector<ListEntry> entries;
          // DM_LIST_DEVICES ioctl. In: DM_UUID_FLAG (ask for uuids, unused here).
          // Out: DM_BUFFER_FULL_FLAG (libdevmapper retries with a larger buffer).
          Task task(lock, call, DM_DEVICE_LIST);
          task.Run("cannot list devices");
          dm_names* names = dm_task_get_names(task.get());
          if (names == nullptr) Fail(lock, call, 0, "cannot read the device list");
          if (names->dev == 0) return entries;  // no devices
          // Each record is struct dm_name_list {dev, next, name[]}. Since driver
          // 4.37 `__u32 event_nr` follows the name at the next 8-byte boundary,
          // and since 4.45 (Linux 5.14) a `__u32 flags` follows it with
          // DM_NAME_LIST_FLAG_HAS_UUID or _DOESNT_HAVE_UUID set. event_nr is
          // trusted only when those bits are there (libdevmapper's in-place
          // unmangling of a name can shift the NUL); otherwise the device gets
          // its own DM_DEVICE_INFO.
          bool extended = DriverAtLeast(task, 4, 45);
          uint32_t next = 0;
          do {
            names = reinterpret_cast<dm_names*>(reinterpret_cast<char*>(names) + next);
            next = names->next;
            ListEntry entry{names->name, major(names->dev), minor(names->dev), 0, false};
            if (extended) {
              const char* end = names->name + std::strlen(names->name) + 1;
              uintptr_t aligned = (reinterpret_cast<uintptr_t>(end) + 7) & ~uintptr_t{7};
              uint32_t fields[2];
              bool inRecord = next == 0 ||
                              aligned + sizeof fields <= reinterpret_cast<uintptr_t>(names) + next;
              if (inRecord) {
                std::memcpy(fields, reinterpret_cast<const void*>(aligned), sizeof fields);
                if (fields[1] & (DM_NAME_LIST_FLAG_HAS_UUID | DM_NAME_LIST_FLAG_DOESNT_HAVE_UUID)) {
                  entry.eventNr = fields[0];
                  entry.haveEventNr = true;
                }
              }
            }
            entries.push_back(std::move(entry));
          } while (next != 0);
          for (ListEntry& entry : entries) {
            if (entry.haveEventNr) continue;
            CallContext infoCall{"list", entry.name};
            DeviceInfo device = GetInfo(lock, infoCall, entry.name);
            entry.eventNr = device.eventNr;
          }
          return entries;
        },
        [](Napi::Env env, std::vector<ListEntry>& entries) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, entries.size());
          for (uint32_t i = 0; i < entries.size(); i++) {
            Napi::Object obj = Napi::Object::New(env);
            obj.Set("name", entries[i].name);
            obj.Set("major", entries[i].major);
            obj.Set("minor", entries[i].minor);
            obj.Set("eventNr", entries[i].eventNr);
            array.Set(i, obj);
          }
          return array;
        });
  });
}

struct TargetType {
  std::string name;
  uint32_t version[3];
};

Napi::Value Targets(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    return Job<std::vector<TargetType>>::Start(
        info.Env(), "targets",
        [] {
          DmLock lock;
          CallContext call{"targets", ""};
          // DM_LIST_VERSIONS ioctl. Out: DM_BUFFER_FULL_FLAG.
          Task task(lock, call, DM_DEVICE_LIST_VERSIONS);
          task.Run("cannot list target types");
          std::vector<TargetType> types;
          dm_versions* target = dm_task_get_versions(task.get());
          if (target == nullptr) return types;
          dm_versions* last = nullptr;
          do {
            last = target;
            types.push_back({target->name, {target->version[0], target->version[1], target->version[2]}});
            target = reinterpret_cast<dm_versions*>(reinterpret_cast<char*>(target) + target->next);
          } while (last != target);
          return types;
        },
        [](Napi::Env env, std::vector<TargetType>& types) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, types.size());
          for (uint32_t i = 0; i < types.size(); i++) {
            Napi::Object obj = Napi::Object::New(env);
            obj.Set("name", types[i].name);
            Napi::Array version = Napi::Array::New(env, 3);
            for (uint32_t j = 0; j < 3; j++) version.Set(j, types[i].version[j]);
            obj.Set("version", version);
            array.Set(i, obj);
          }
          return array;
        });
  });
}

// Creates an empty device, loads `table` and resumes it: what libdevmapper's
// DM_DEVICE_CREATE-with-table does internally, spelled out so each step's
// errno is kept. Whatever fails after the device exists (load, resume, the
// udev wait, the final info) removes it again.
struct CreateSpec {
  std::string name;
  std::optional<std::string> uuid;
  std::vector<TableRow> table;
  bool readOnly = false;
  UdevChoice udev;
};

CreateSpec CreateSpecOption(const Napi::Env& env, const Napi::Object& options) {
  CreateSpec spec;
  std::optional<std::string> name = StringOption(options, "name");
  if (!name) throw Napi::TypeError::New(env, "name must be a string");
  spec.name = *name;
  spec.uuid = StringOption(options, "uuid");
  spec.table = TableOption(options, "table");
  spec.readOnly = BoolOption(options, "readOnly", false);
  spec.udev = UdevOption(options);
  return spec;
}

// Removes the device `CreateDevice` made, best effort: the error that made
// it necessary is what the caller sees.
void RemoveQuietly(const CallContext& call, const CreateSpec& spec) {
  try {
    DmLock lock;
    {
      Task remove(lock, call, DM_DEVICE_REMOVE);
      remove.SetName(spec.name);
      remove.SetCookie(spec.udev.mode);
      remove.TryRun();
    }
    lock.TakeLog();
    ReleaseAndWaitForUdev(lock, call, spec.udev.timeoutMs);
  } catch (...) {
  }
}

// The create job's work; `lock` is held on entry and released on return.
DeviceInfo CreateDevice(DmLock& lock, const CallContext& call, const CreateSpec& spec) {
  {
    // DM_DEV_CREATE ioctl. In: name, uuid, DM_PERSISTENT_DEV_FLAG (not
    // used: the kernel picks the minor). No uevent is sent for the node
    // (it comes with the first resume), so no cookie here.
    Task task(lock, call, DM_DEVICE_CREATE);
    task.SetName(spec.name);
    if (spec.uuid && !spec.uuid->empty()) task.Require(dm_task_set_uuid(task.get(), spec.uuid->c_str()), "invalid uuid");
    task.Run("cannot create the device");
  }
  try {
    if (!spec.table.empty()) {
      {
        // DM_TABLE_LOAD ioctl. In: DM_READONLY_FLAG, the target specs.
        // Out: DM_INACTIVE_PRESENT_FLAG.
        Task load(lock, call, DM_DEVICE_RELOAD);
        load.SetName(spec.name);
        AddTargets(load, spec.table);
        if (spec.readOnly) load.Require(dm_task_set_ro(load.get()), "cannot set read-only");
        load.Run("cannot load the table");
      }
      {
        // DM_DEV_SUSPEND ioctl without DM_SUSPEND_FLAG = resume: swaps the
        // loaded table in and sends the uevent that makes the node.
        // In: event_nr = udev cookie and flags. Out: DM_UEVENT_GENERATED_FLAG.
        Task resume(lock, call, DM_DEVICE_RESUME);
        resume.SetName(spec.name);
        resume.SetCookie(spec.udev.mode);
        resume.Run("cannot resume the new device");
      }
    }
    DeviceInfo info = GetInfo(lock, call, spec.name);
    ReleaseAndWaitForUdev(lock, call, spec.udev.timeoutMs);
    return info;
  } catch (...) {
    // A cookie of this call that is still pending is waited for (bounded)
    // before the removal, so udev does not see the device's events out of order.
    std::vector<uint32_t> pending = lock.TakeCookies();
    lock.Release();
    WaitForUdevQuietly(pending, spec.udev.timeoutMs);
    RemoveQuietly(call, spec);
    throw;
  }
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    CreateSpec spec = CreateSpecOption(info.Env(), OptionsArg(info, 0));
    return Job<DeviceInfo>::Start(
        info.Env(), "create",
        [spec] {
          DmLock lock;
          CallContext call{"create", spec.name};
          return CreateDevice(lock, call, spec);
        },
        InfoToJs);
  });
}

Napi::Value Load(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    Napi::Object options = OptionsArg(info, 0);
    std::optional<std::string> name = StringOption(options, "name");
    if (!name) throw Napi::TypeError::New(info.Env(), "name must be a string");
    std::vector<TableRow> table = TableOption(options, "table");
    bool readOnly = BoolOption(options, "readOnly", false);
    return Job<Unit>::Start(
        info.Env(), "load",
        [name = *name, table, readOnly] {
          DmLock lock;
          CallContext call{"load", name};
          // DM_TABLE_LOAD ioctl. In: DM_READONLY_FLAG, the target specs.
          // Out: DM_INACTIVE_PRESENT_FLAG.
          Task task(lock, call, DM_DEVICE_RELOAD);
          task.SetName(name);
          AddTargets(task, table);
          if (readOnly) task.Require(dm_task_set_ro(task.get()), "cannot set read-only");
          task.Run("cannot load the table");
          return Unit{};
        },
        Undefined);
  });
}

// A call on one named device with no result: clear, suspend.
template <typename Setup>
Napi::Value SimpleCall(const Napi::CallbackInfo& info, const char* op, int type, const char* what,
                       Setup setup, uint64_t udevTimeoutMs = kDefaultUdevTimeoutMs) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    return Job<Unit>::Start(
        info.Env(), op,
        [name, op, type, what, setup, udevTimeoutMs] {
          DmLock lock;
          CallContext call{op, name};
          {
            Task task(lock, call, type);
            task.SetName(name);
            setup(task);
            task.Run(what);
          }
          ReleaseAndWaitForUdev(lock, call, udevTimeoutMs);
          return Unit{};
        },
        Undefined);
  });
}

Napi::Value Clear(const Napi::CallbackInfo& info) {
  // DM_TABLE_CLEAR ioctl. In: name. Out: DM_INACTIVE_PRESENT_FLAG cleared.
  return SimpleCall(info, "clear", DM_DEVICE_CLEAR, "cannot clear the inactive table", [](Task&) {});
}

Napi::Value Suspend(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    Napi::Object options = OptionsArg(info, 1);
    bool noFlush = BoolOption(options, "noFlush", false);
    bool skipLockfs = BoolOption(options, "skipLockfs", false);
    // DM_DEV_SUSPEND ioctl with DM_SUSPEND_FLAG. In: DM_NOFLUSH_FLAG (keep
    // queued I/O instead of flushing it), DM_SKIP_LOCKFS_FLAG (do not freeze
    // a mounted filesystem). Sends no uevent, so no cookie.
    return SimpleCall(info, "suspend", DM_DEVICE_SUSPEND, "cannot suspend the device",
                      [noFlush, skipLockfs](Task& task) {
                        if (noFlush) task.Require(dm_task_no_flush(task.get()), "cannot set noflush");
                        if (skipLockfs) task.Require(dm_task_skip_lockfs(task.get()), "cannot set skip_lockfs");
                      });
  });
}

Napi::Value Resume(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    Napi::Object options = OptionsArg(info, 1);
    UdevChoice udev = UdevOption(options);
    // DM_DEV_SUSPEND ioctl without DM_SUSPEND_FLAG. In: event_nr = udev
    // cookie and flags. Out: DM_UEVENT_GENERATED_FLAG. Adds the node (udev or
    // the library fallback) if the device had none.
    return SimpleCall(
        info, "resume", DM_DEVICE_RESUME, "cannot resume the device",
        [mode = udev.mode](Task& task) { task.SetCookie(mode); }, udev.timeoutMs);
  });
}

Napi::Value Rename(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    std::string newName = StringArg(info, 1, "newName");
    UdevChoice udev = UdevOption(OptionsArg(info, 2));
    return Job<Unit>::Start(
        info.Env(), "rename",
        [name, newName, udev] {
          DmLock lock;
          CallContext call{"rename", name};
          if (newName.empty() || newName.find('/') != std::string::npos) {
            Fail(lock, call, EINVAL, "the new name must be non-empty and contain no '/'");
          }
          // DM_DEV_RENAME ioctl. In: the new name after the struct, DM_UUID_FLAG
          // (set a uuid instead; not used), event_nr = udev cookie and flags.
          // Out: DM_UEVENT_GENERATED_FLAG.
          {
            Task task(lock, call, DM_DEVICE_RENAME);
            task.SetName(name);
            task.Require(dm_task_set_newname(task.get(), newName.c_str()), "invalid new name");
            task.SetCookie(udev.mode);
            task.Run("cannot rename the device");
          }
          ReleaseAndWaitForUdev(lock, call, udev.timeoutMs);
          return Unit{};
        },
        Undefined);
  });
}

Napi::Value Remove(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    Napi::Object options = OptionsArg(info, 1);
    uint64_t retries = U64Option(options, "retries").value_or(5);
    uint64_t delayMs = U64Option(options, "retryDelayMs").value_or(100);
    bool deferred = BoolOption(options, "deferred", false);
    // `ifUuid`: remove only the device of that uuid, looked up by name in the
    // same hold of the lock as the removal (one job instead of an info call
    // and a remove): no device of that name resolves false; a device of that
    // name with another uuid is refused with EPERM, untouched.
    std::optional<std::string> ifUuid = StringOption(options, "ifUuid");
    UdevChoice udev = UdevOption(options);
    return Job<bool>::Start(
        info.Env(), "remove",
        [name, retries, delayMs, deferred, udev, ifUuid] {
          CallContext call{"remove", name};
          for (uint64_t attempt = 0;; attempt++) {
            {
              DmLock lock;
              if (ifUuid) {
                DeviceInfo current = GetInfo(lock, call, name);
                if (!current.exists) return false;
                if (current.uuid != *ifUuid) {
                  Fail(lock, call, EPERM,
                       "the device's uuid \"" + current.uuid + "\" is not \"" + *ifUuid +
                           "\"; refusing to touch a device this library did not make");
                }
              }
              // DM_DEV_REMOVE ioctl. In: DM_DEFERRED_REMOVE (remove when the
              // last opener closes instead of failing with EBUSY), event_nr =
              // udev cookie and flags. Out: DM_UEVENT_GENERATED_FLAG,
              // DM_DEFERRED_REMOVE (set when the removal was deferred).
              // libdevmapper's own dm_task_retry_remove is not used: it sleeps
              // inside dm_task_run, i.e. with the lock held.
              int errnum = 0;
              {
                Task task(lock, call, DM_DEVICE_REMOVE);
                task.SetName(name);
                uint16_t cookieFlags = 0;
                if (deferred) {
                  task.Require(dm_task_deferred_remove(task.get()), "cannot set deferred remove");
                  // A deferred removal sends its uevent only when it happens, and
                  // udev removes /dev/mapper/NAME then; keep libdevmapper from
                  // deleting the node now while the device still exists. Without
                  // udev (or with 'skip') nothing would delete it later, so the
                  // library removes it now.
                  if (udev.mode != UdevMode::kSkip && dm_udev_get_sync_support()) {
                    cookieFlags |= DM_UDEV_DISABLE_LIBRARY_FALLBACK;
                  }
                }
                task.SetCookie(udev.mode, cookieFlags);
                errnum = task.TryRun();
              }
              if (errnum == 0) {
                ReleaseAndWaitForUdev(lock, call, udev.timeoutMs);
                return true;
              }
              if (errnum != EBUSY || attempt >= retries) {
                Fail(lock, call, errnum,
                     errnum == EBUSY ? "the device is in use (retried " + std::to_string(attempt) + " times)"
                                     : std::string("cannot remove the device"));
              }
              lock.TakeLog();  // this attempt's EBUSY line; the next attempt logs its own
            }
            // Sleep without the lock so other calls (and the holder) can proceed.
            std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
          }
        },
        [](Napi::Env env, bool& removed) -> Napi::Value { return Napi::Boolean::New(env, removed); });
  });
}

// DM_TARGET_MSG: sends `text` to the target at `sector`; returns the reply.
std::optional<std::string> SendMessage(DmLock& lock, const CallContext& call, const std::string& name,
                                       uint64_t sector, const std::string& text) {
  // DM_TARGET_MSG ioctl. In: struct dm_target_msg {sector, message}.
  // Out: DM_DATA_OUT_FLAG when the target wrote a reply, DM_BUFFER_FULL_FLAG
  // (libdevmapper retries with a larger buffer).
  Task task(lock, call, DM_DEVICE_TARGET_MSG);
  task.SetName(name);
  task.Require(dm_task_set_sector(task.get(), sector), "cannot set the sector");
  task.Require(dm_task_set_message(task.get(), text.c_str()), "cannot set the message");
  task.Run("the target rejected the message");
  const char* reply = dm_task_get_message_response(task.get());
  if (reply == nullptr || *reply == '\0') return std::nullopt;
  return std::string(reply);
}

Napi::Value Message(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    uint64_t sector = U64Value(info[1], "sector");
    std::string text = StringArg(info, 2, "text");
    return Job<std::optional<std::string>>::Start(
        info.Env(), "message",
        [name, sector, text] {
          DmLock lock;
          CallContext call{"message", name};
          return SendMessage(lock, call, name, sector, text);
        },
        [](Napi::Env env, std::optional<std::string>& reply) -> Napi::Value {
          if (!reply) return env.Null();
          return Napi::String::New(env, *reply);
        });
  });
}

// A compound job for a new snapshot (one trip off the JS thread): sends the
// pool `message` (create_snap), suspending `origin` around it when that
// device is live (the kernel requires an active origin to be suspended),
// then creates, loads and resumes the device as Create does. When the
// message fails nothing was created; when the create fails the new thin id
// stays in the pool for the caller to delete.
Napi::Value SnapshotAndCreate(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    Napi::Object options = OptionsArg(info, 0);
    std::optional<std::string> pool = StringOption(options, "pool");
    std::optional<std::string> text = StringOption(options, "message");
    if (!pool || !text) throw Napi::TypeError::New(info.Env(), "pool and message must be strings");
    std::optional<std::string> origin = StringOption(options, "origin");
    UdevChoice originUdev = UdevOption(OptionsArg(info, 1));
    if (!options.Get("device").IsObject()) throw Napi::TypeError::New(info.Env(), "device must be an object");
    CreateSpec spec = CreateSpecOption(info.Env(), options.Get("device").As<Napi::Object>());
    return Job<DeviceInfo>::Start(
        info.Env(), "snapshotAndCreate",
        [pool = *pool, text = *text, origin, originUdev, spec] {
          {
            // Each step reports its own op ("suspend", "message", "resume" of
            // the origin, then "create"), so the caller knows how far it got.
            DmLock lock;
            CallContext call{"message", pool};
            CallContext originCall{"suspend", origin.value_or("")};
            CallContext resumeCall{"resume", origin.value_or("")};
            bool suspended = false;
            if (origin) {
              DeviceInfo originInfo = GetInfo(lock, originCall, *origin);
              if (originInfo.exists && originInfo.liveTable && !originInfo.suspended) {
                // DM_DEV_SUSPEND with DM_SUSPEND_FLAG, flushing.
                Task suspend(lock, originCall, DM_DEVICE_SUSPEND);
                suspend.SetName(*origin);
                suspend.Run("cannot suspend the origin");
                suspended = true;
              }
            }
            // The origin is resumed whether the message worked or not.
            std::optional<OpError> messageError;
            try {
              SendMessage(lock, call, pool, 0, text);
            } catch (const OpError& e) {
              if (!suspended) throw;
              messageError = e;
            }
            if (suspended) {
              Task resume(lock, resumeCall, DM_DEVICE_RESUME);
              resume.SetName(*origin);
              resume.SetCookie(originUdev.mode);
              resume.Run("cannot resume the origin");
            }
            if (messageError) throw *messageError;
            ReleaseAndWaitForUdev(lock, resumeCall, originUdev.timeoutMs);
          }
          DmLock lock;
          CallContext call{"create", spec.name};
          return CreateDevice(lock, call, spec);
        },
        InfoToJs);
  });
}

Napi::Value CancelDeferredRemove(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    return Job<Unit>::Start(
        info.Env(), "cancelDeferredRemove",
        [name] {
          DmLock lock;
          CallContext call{"cancelDeferredRemove", name};
          // The device-mapper core (not the target) handles this message. It
          // succeeds when no removal is pending, and fails with EBUSY once the
          // removal has started (the last holder just closed).
          SendMessage(lock, call, name, 0, "@cancel_deferred_remove");
          // Without udev the library deleted /dev/mapper/NAME when the removal
          // was deferred; DM_DEVICE_MKNODES stacks the node's creation (a
          // no-op when it is there) and dm_task_update_nodes carries it out.
          // Best effort: the cancel itself has succeeded.
          {
            Task mknodes(lock, call, DM_DEVICE_MKNODES);
            mknodes.SetName(name);
            mknodes.TryRun();
          }
          dm_task_update_nodes();
          lock.TakeLog();
          return Unit{};
        },
        Undefined);
  });
}

template <int Type>
Napi::Value Rows(const Napi::CallbackInfo& info, const char* op) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    bool noFlush = Type == DM_DEVICE_STATUS && BoolOption(OptionsArg(info, 1), "noFlush", false);
    return Job<std::vector<TableRow>>::Start(
        info.Env(), op,
        [name, noFlush, op] {
          DmLock lock;
          CallContext call{op, name};
          // DM_TABLE_STATUS ioctl. In: DM_STATUS_TABLE_FLAG (table instead of
          // status; set by libdevmapper for DM_DEVICE_TABLE), DM_NOFLUSH_FLAG
          // (do not flush before reporting status, e.g. thin-pool's used
          // blocks), DM_QUERY_INACTIVE_TABLE_FLAG (unused).
          // Out: DM_BUFFER_FULL_FLAG.
          Task task(lock, call, Type);
          task.SetName(name);
          if (noFlush) task.Require(dm_task_no_flush(task.get()), "cannot set noflush");
          task.Run(Type == DM_DEVICE_STATUS ? "cannot read the status" : "cannot read the table");
          RequireExists(lock, call, task);
          return ReadRows(task);
        },
        RowsToJs);
  });
}

Napi::Value Status(const Napi::CallbackInfo& info) { return Rows<DM_DEVICE_STATUS>(info, "status"); }
Napi::Value Table(const Napi::CallbackInfo& info) { return Rows<DM_DEVICE_TABLE>(info, "table"); }

Napi::Value Info(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    return Job<DeviceInfo>::Start(
        info.Env(), "info",
        [name] {
          DmLock lock;
          CallContext call{"info", name};
          return GetInfo(lock, call, name);
        },
        InfoToJs);
  });
}

struct DevNumber {
  uint32_t major;
  uint32_t minor;
};

Napi::Value Deps(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string name = StringArg(info, 0, "name");
    return Job<std::vector<DevNumber>>::Start(
        info.Env(), "deps",
        [name] {
          DmLock lock;
          CallContext call{"deps", name};
          // DM_TABLE_DEPS ioctl. In: DM_QUERY_INACTIVE_TABLE_FLAG (unused).
          // Out: DM_BUFFER_FULL_FLAG.
          Task task(lock, call, DM_DEVICE_DEPS);
          task.SetName(name);
          task.Run("cannot read the dependencies");
          RequireExists(lock, call, task);
          std::vector<DevNumber> devices;
          dm_deps* deps = dm_task_get_deps(task.get());
          if (deps == nullptr) return devices;
          for (uint32_t i = 0; i < deps->count; i++) {
            // The kernel encodes these as userspace dev_t (huge_encode_dev).
            devices.push_back({major(deps->device[i]), minor(deps->device[i])});
          }
          return devices;
        },
        [](Napi::Env env, std::vector<DevNumber>& devices) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, devices.size());
          for (uint32_t i = 0; i < devices.size(); i++) {
            Napi::Object obj = Napi::Object::New(env);
            obj.Set("major", devices[i].major);
            obj.Set("minor", devices[i].minor);
            array.Set(i, obj);
          }
          return array;
        });
  });
}

}  // namespace

void RegisterDmOps(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("udevSyncSupported", Napi::Function::New(env, UdevSyncSupported, "udevSyncSupported"));
  exports.Set("list", Napi::Function::New(env, List, "list"));
  exports.Set("targets", Napi::Function::New(env, Targets, "targets"));
  exports.Set("create", Napi::Function::New(env, Create, "create"));
  exports.Set("load", Napi::Function::New(env, Load, "load"));
  exports.Set("clear", Napi::Function::New(env, Clear, "clear"));
  exports.Set("suspend", Napi::Function::New(env, Suspend, "suspend"));
  exports.Set("resume", Napi::Function::New(env, Resume, "resume"));
  exports.Set("rename", Napi::Function::New(env, Rename, "rename"));
  exports.Set("remove", Napi::Function::New(env, Remove, "remove"));
  exports.Set("snapshotAndCreate", Napi::Function::New(env, SnapshotAndCreate, "snapshotAndCreate"));
  exports.Set("cancelDeferredRemove", Napi::Function::New(env, CancelDeferredRemove, "cancelDeferredRemove"));
  exports.Set("message", Napi::Function::New(env, Message, "message"));
  exports.Set("status", Napi::Function::New(env, Status, "status"));
  exports.Set("table", Napi::Function::New(env, Table, "table"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("deps", Napi::Function::New(env, Deps, "deps"));
}

}  // namespace dmaddon
