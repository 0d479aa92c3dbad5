// Loop devices with plain ioctls (no libdevmapper, so no DmLock).
//
// Autoclear: the kernel detaches a loop device with LO_FLAGS_AUTOCLEAR when
// its last opener closes it (lo_release). loopAttach's own fd is that last
// opener unless someone else already holds the device, so a device attached
// with autoclear would be gone as soon as attach returned. loopAttach
// therefore refuses `autoclear: true`; callers attach without it, make a
// holder (e.g. a dm table that references the loop device, which keeps it
// open) and then call loopSetAutoclear(path, true): the loop device then
// goes away by itself when the holder (the dm device) is removed.
#include <linux/loop.h>
#include <napi.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <dirent.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "async_job.h"
#include "errors.h"
#include "exports.h"
#include "fd.h"
#include "js_args.h"

#ifndef LOOP_CONFIGURE
// Linux 5.8 uapi, for building against older headers.
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
  __u32 fd;
  __u32 block_size;
  struct loop_info64 info;
  __u64 __reserved[8];
};
#endif

namespace dmaddon {
namespace {

constexpr int kBusyRetries = 10;
constexpr auto kBusyDelay = std::chrono::milliseconds(50);

struct LoopInfo {
  std::string path;
  uint32_t number = 0;
  std::string backingFile;
  uint64_t offsetBytes = 0;
  uint64_t sizeLimitBytes = 0;
  bool readOnly = false;
  bool autoclear = false;
  bool directIo = false;
};

std::string LoopPath(uint32_t number) { return "/dev/loop" + std::to_string(number); }

// /sys/block/loopN/loop/backing_file holds the full path (lo_file_name is cut
// at 63 bytes); empty when unreadable.
std::string SysfsBackingFile(uint32_t number) {
  std::ifstream in("/sys/block/loop" + std::to_string(number) + "/loop/backing_file");
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  return line;
}

// LOOP_GET_STATUS64 on an open loop fd; ENXIO when nothing is attached.
loop_info64 GetStatus(int fd, const std::string& op, const std::string& path) {
  loop_info64 status{};
  // LOOP_GET_STATUS64. Out: lo_number, lo_device/lo_inode (the backing
  // file's st_dev/st_ino), lo_offset, lo_sizelimit, lo_flags
  // (LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN,
  // LO_FLAGS_DIRECT_IO), lo_file_name.
  if (ioctl(fd, LOOP_GET_STATUS64, &status) < 0) ThrowErrno(op, path, "LOOP_GET_STATUS64 failed");
  return status;
}

LoopInfo ToInfo(const loop_info64& status) {
  LoopInfo info;
  info.number = status.lo_number;
  info.path = LoopPath(status.lo_number);
  info.backingFile = SysfsBackingFile(status.lo_number);
  if (info.backingFile.empty()) {
    info.backingFile.assign(reinterpret_cast<const char*>(status.lo_file_name),
                            strnlen(reinterpret_cast<const char*>(status.lo_file_name), LO_NAME_SIZE));
  }
  info.offsetBytes = status.lo_offset;
  info.sizeLimitBytes = status.lo_sizelimit;
  info.readOnly = status.lo_flags & LO_FLAGS_READ_ONLY;
  info.autoclear = status.lo_flags & LO_FLAGS_AUTOCLEAR;
  info.directIo = status.lo_flags & LO_FLAGS_DIRECT_IO;
  return info;
}

// Opens a loop device read-only: every loop ioctl used here works on such
// an fd for root (CAP_SYS_ADMIN), and closing a read-only fd does not make
// udev's watch rule re-scan the device.
Fd OpenLoop(const std::string& op, const std::string& path) { return OpenOrThrow(op, path, O_RDONLY); }

LoopInfo ReadInfo(const std::string& op, const std::string& path) {
  Fd fd = OpenLoop(op, path);
  return ToInfo(GetStatus(fd.get(), op, path));
}

void SetFileName(loop_info64& status, const std::string& file) {
  std::strncpy(reinterpret_cast<char*>(status.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
}

// The pre-5.8 way: LOOP_SET_FD then LOOP_SET_STATUS64 (and
// LOOP_SET_DIRECT_IO). Returns false on EBUSY (the slot was taken).
bool AttachLegacy(int loopFd, int fileFd, const std::string& file, const std::string& loopPath,
                  bool directIo) {
  // LOOP_SET_FD: binds fileFd. Read-only follows the file's open mode.
  if (ioctl(loopFd, LOOP_SET_FD, fileFd) < 0) {
    if (errno == EBUSY) return false;
    ThrowErrno("loopAttach", file, "LOOP_SET_FD on " + loopPath + " failed");
  }
  loop_info64 status{};
  SetFileName(status, file);
  // LOOP_SET_STATUS64. In: lo_offset, lo_sizelimit, lo_file_name and the
  // settable flags LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN (none used here).
  if (ioctl(loopFd, LOOP_SET_STATUS64, &status) < 0) {
    int err = errno;
    ioctl(loopFd, LOOP_CLR_FD, 0);
    errno = err;
    ThrowErrno("loopAttach", file, "LOOP_SET_STATUS64 on " + loopPath + " failed");
  }
  // LOOP_SET_DIRECT_IO: 1 turns O_DIRECT on for the backing file; EINVAL
  // when the file system or alignment does not allow it (left off then,
  // as LOOP_CONFIGURE does silently).
  if (directIo) ioctl(loopFd, LOOP_SET_DIRECT_IO, 1UL);
  return true;
}

LoopInfo Attach(const std::string& file, bool readOnly, bool directIo) {
  const std::string op = "loopAttach";
  Fd fileFd = OpenOrThrow(op, file, readOnly ? O_RDONLY : O_RDWR);
  Fd control = OpenOrThrow(op, "/dev/loop-control", O_RDWR);
  for (int attempt = 0;; attempt++) {
    // LOOP_CTL_GET_FREE: the number of a free loop device, adding one if none is free.
    int number = ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0) ThrowErrno(op, file, "LOOP_CTL_GET_FREE failed");
    std::string loopPath = LoopPath(static_cast<uint32_t>(number));
    Fd loopFd(open(loopPath.c_str(), (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (loopFd.get() < 0) {
      // The node of a just-added device can lag behind (devtmpfs/udev).
      if (errno == ENOENT && attempt < kBusyRetries) {
        std::this_thread::sleep_for(kBusyDelay);
        continue;
      }
      ThrowErrno(op, file, "cannot open " + loopPath);
    }

    loop_config config{};
    config.fd = static_cast<uint32_t>(fileFd.get());
    config.block_size = 0;  // keep the default (512)
    SetFileName(config.info, file);
    // LOOP_CONFIGURE (Linux 5.8+). In: fd, block_size and info with lo_offset,
    // lo_sizelimit, lo_file_name and lo_flags from LO_FLAGS_READ_ONLY,
    // LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN, LO_FLAGS_DIRECT_IO (dropped
    // silently when the backing file cannot do O_DIRECT).
    config.info.lo_flags = (readOnly ? LO_FLAGS_READ_ONLY : 0) | (directIo ? LO_FLAGS_DIRECT_IO : 0);
    bool attached = true;
    if (ioctl(loopFd.get(), LOOP_CONFIGURE, &config) < 0) {
      if (errno == EBUSY) {
        attached = false;  // another process configured this slot first
      } else if (errno == EINVAL || errno == ENOTTY) {
        attached = AttachLegacy(loopFd.get(), fileFd.get(), file, loopPath, directIo);
      } else {
        ThrowErrno(op, file, "LOOP_CONFIGURE on " + loopPath + " failed");
      }
    }
    if (attached) return ToInfo(GetStatus(loopFd.get(), op, loopPath));
    if (attempt >= kBusyRetries) {
      errno = EBUSY;
      ThrowErrno(op, file, "every free loop device was taken by another process first");
    }
  }
}

Napi::Value InfoToJs(Napi::Env env, const LoopInfo& info) {
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("path", info.path);
  obj.Set("number", info.number);
  obj.Set("backingFile", info.backingFile);
  obj.Set("offsetBytes", Napi::Number::New(env, static_cast<double>(info.offsetBytes)));
  obj.Set("sizeLimitBytes", Napi::Number::New(env, static_cast<double>(info.sizeLimitBytes)));
  obj.Set("readOnly", info.readOnly);
  obj.Set("autoclear", info.autoclear);
  obj.Set("directIo", info.directIo);
  return obj;
}

Napi::Value LoopAttach(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string file = StringArg(info, 0, "file");
    Napi::Object options = OptionsArg(info, 1);
    bool readOnly = BoolOption(options, "readOnly", false);
    bool autoclear = BoolOption(options, "autoclear", false);
    bool directIo = BoolOption(options, "directIo", false);
    return Job<LoopInfo>::Start(
        info.Env(), "loopAttach",
        [file, readOnly, autoclear, directIo] {
          if (autoclear) {
            // See the top of this file.
            throw OpError(EINVAL, "loopAttach", file,
                          "autoclear at attach would detach the device when attach closes it; attach "
                          "without it and call loopSetAutoclear once something holds the device open");
          }
          return Attach(file, readOnly, directIo);
        },
        [](Napi::Env env, LoopInfo& loop) { return InfoToJs(env, loop); });
  });
}

Napi::Value LoopSetAutoclear(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "loopPath");
    if (!info[1].IsBoolean()) throw Napi::TypeError::New(info.Env(), "on must be a boolean");
    bool on = info[1].As<Napi::Boolean>().Value();
    return Job<LoopInfo>::Start(
        info.Env(), "loopSetAutoclear",
        [path, on] {
          const std::string op = "loopSetAutoclear";
          LoopInfo result;
          {
            Fd fd = OpenLoop(op, path);
            loop_info64 status = GetStatus(fd.get(), op, path);
            if (on) {
              status.lo_flags |= LO_FLAGS_AUTOCLEAR;
            } else {
              status.lo_flags &= ~static_cast<__u32>(LO_FLAGS_AUTOCLEAR);
            }
            // LOOP_SET_STATUS64 with the status just read: only the flags
            // change. LO_FLAGS_AUTOCLEAR is settable and clearable this way.
            if (ioctl(fd.get(), LOOP_SET_STATUS64, &status) < 0) ThrowErrno(op, path, "LOOP_SET_STATUS64 failed");
            result = ToInfo(GetStatus(fd.get(), op, path));
          }
          // If nobody else held the device, closing fd above detached it.
          return result;
        },
        [](Napi::Env env, LoopInfo& loop) { return InfoToJs(env, loop); });
  });
}

Napi::Value LoopDetach(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "loopPath");
    return Job<Unit>::Start(
        info.Env(), "loopDetach",
        [path] {
          Fd fd = OpenLoop("loopDetach", path);
          for (int attempt = 0;; attempt++) {
            // LOOP_CLR_FD: unbinds the backing file; ENXIO when none is bound.
            // Since Linux 5.x a device that others hold open is not refused
            // with EBUSY but gets LO_FLAGS_AUTOCLEAR and detaches on their last
            // close. Older kernels say EBUSY, e.g. while udev probes it: retried.
            if (ioctl(fd.get(), LOOP_CLR_FD, 0) == 0) return Unit{};
            if (errno != EBUSY || attempt >= kBusyRetries) ThrowErrno("loopDetach", path, "LOOP_CLR_FD failed");
            std::this_thread::sleep_for(kBusyDelay);
          }
        },
        Undefined);
  });
}

Napi::Value LoopSetCapacity(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "loopPath");
    return Job<Unit>::Start(
        info.Env(), "loopSetCapacity",
        [path] {
          Fd fd = OpenLoop("loopSetCapacity", path);
          // LOOP_SET_CAPACITY: re-reads the backing file's size (respecting
          // lo_offset/lo_sizelimit); ENXIO when nothing is bound. No flags.
          if (ioctl(fd.get(), LOOP_SET_CAPACITY, 0) < 0) ThrowErrno("loopSetCapacity", path, "LOOP_SET_CAPACITY failed");
          return Unit{};
        },
        Undefined);
  });
}

Napi::Value LoopInfoCall(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "loopPath");
    return Job<LoopInfo>::Start(
        info.Env(), "loopInfo", [path] { return ReadInfo("loopInfo", path); },
        [](Napi::Env env, LoopInfo& loop) { return InfoToJs(env, loop); });
  });
}

Napi::Value LoopFind(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string file = StringArg(info, 0, "file");
    return Job<std::vector<LoopInfo>>::Start(
        info.Env(), "loopFind",
        [file] {
          const std::string op = "loopFind";
          struct stat target {};
          if (stat(file.c_str(), &target) < 0) ThrowErrno(op, file, "cannot stat " + file);
          std::vector<LoopInfo> found;
          DIR* dir = opendir("/sys/block");
          if (dir == nullptr) ThrowErrno(op, file, "cannot list /sys/block");
          std::vector<uint32_t> numbers;
          while (dirent* entry = readdir(dir)) {
            unsigned number = 0;
            char rest = 0;
            if (sscanf(entry->d_name, "loop%u%c", &number, &rest) != 1) continue;
            // The loop/ directory exists only while a file is bound.
            struct stat bound {};
            std::string sysDir = std::string("/sys/block/") + entry->d_name + "/loop";
            if (stat(sysDir.c_str(), &bound) == 0) numbers.push_back(number);
          }
          closedir(dir);
          for (uint32_t number : numbers) {
            std::string path = LoopPath(number);
            Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (fd.get() < 0) continue;  // went away meanwhile, or no node
            loop_info64 status{};
            if (ioctl(fd.get(), LOOP_GET_STATUS64, &status) < 0) continue;  // detached meanwhile
            // lo_device is the kernel's huge_encode_dev(), the same encoding
            // as a userspace dev_t for any real device number.
            if (status.lo_device == target.st_dev && status.lo_inode == target.st_ino) {
              found.push_back(ToInfo(status));
            }
          }
          return found;
        },
        [](Napi::Env env, std::vector<LoopInfo>& loops) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, loops.size());
          for (uint32_t i = 0; i < loops.size(); i++) array.Set(i, InfoToJs(env, loops[i]));
          return array;
        });
  });
}

}  // namespace

void RegisterLoop(Napi::Env env, Napi::Object exports) {
  exports.Set("loopAttach", Napi::Function::New(env, LoopAttach, "loopAttach"));
  exports.Set("loopDetach", Napi::Function::New(env, LoopDetach, "loopDetach"));
  exports.Set("loopSetCapacity", Napi::Function::New(env, LoopSetCapacity, "loopSetCapacity"));
  exports.Set("loopSetAutoclear", Napi::Function::New(env, LoopSetAutoclear, "loopSetAutoclear"));
  exports.Set("loopInfo", Napi::Function::New(env, LoopInfoCall, "loopInfo"));
  exports.Set("loopFind", Napi::Function::New(env, LoopFind, "loopFind"));
}

}  // namespace dmaddon
