// Block device ioctls that need no libdevmapper: size and discard.
#include <linux/fs.h>
#include <napi.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <string>

#include "async_job.h"
#include "errors.h"
#include "exports.h"
#include "fd.h"
#include "js_args.h"

namespace dmaddon {
namespace {

Napi::Value BlockSize(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "devicePath");
    return Job<uint64_t>::Start(
        info.Env(), "blockSize",
        [path] {
          // Read-only open: closing a write-opened node makes udev's watch
          // rule re-scan the device.
          Fd fd = OpenOrThrow("blockSize", path, O_RDONLY);
          // BLKGETSIZE64: the size in bytes, as a u64. No flags.
          uint64_t bytes = 0;
          if (ioctl(fd.get(), BLKGETSIZE64, &bytes) < 0) ThrowErrno("blockSize", path, "BLKGETSIZE64 failed");
          return bytes;
        },
        [](Napi::Env env, uint64_t& bytes) -> Napi::Value {
          return Napi::Number::New(env, static_cast<double>(bytes));
        });
  });
}

Napi::Value BlockDiscard(const Napi::CallbackInfo& info) {
  return RejectOnThrow(info.Env(), [&] {
    std::string path = StringArg(info, 0, "devicePath");
    uint64_t offset = U64Value(info[1], "offsetBytes");
    uint64_t length = U64Value(info[2], "lengthBytes");
    return Job<Unit>::Start(
        info.Env(), "blockDiscard",
        [path, offset, length] {
          // BLKDISCARD needs a write-opened fd (EBADF otherwise).
          Fd fd = OpenOrThrow("blockDiscard", path, O_WRONLY);
          // BLKDISCARD: u64 range[2] = {offset, length} in bytes, both
          // multiples of the logical block size (EINVAL otherwise); the
          // page cache of the range is dropped first. No flags.
          uint64_t range[2] = {offset, length};
          if (ioctl(fd.get(), BLKDISCARD, range) < 0) ThrowErrno("blockDiscard", path, "BLKDISCARD failed");
          return Unit{};
        },
        Undefined);
  });
}

}  // namespace

void RegisterBlockdev(Napi::Env env, Napi::Object exports) {
  exports.Set("blockSize", Napi::Function::New(env, BlockSize, "blockSize"));
  exports.Set("blockDiscard", Napi::Function::New(env, BlockDiscard, "blockDiscard"));
}

}  // namespace dmaddon
