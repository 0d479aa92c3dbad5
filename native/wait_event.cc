// waitEvent: waits for a device's event counter to pass a value, on a thread
// of its own (it may wait for hours; the libuv pool must not be held by it).
//
// The thread opens its own fd on /dev/mapper/control and loops:
//   1. arm the fd (DM_DEV_ARM_POLL): poll() on it now reports readable once
//      any device-mapper event happens after this point;
//   2. read the device's event_nr with DM_DEVICE_INFO, under the DmLock;
//      resolve if it is greater than the caller's, reject ENXIO if the
//      device is gone;
//   3. poll() the control fd together with an eventfd that cancel() writes.
// Arming before checking means an event between the check and the poll
// still wakes the poll, so none is lost. Wake-ups for other devices' events
// just go round the loop again.
#include <linux/dm-ioctl.h>
#include <napi.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dm_lock.h"
#include "dm_task.h"
#include "errors.h"
#include "exports.h"
#include "js_args.h"

namespace dmaddon {
namespace {

struct WaitState {
  std::string name;
  uint32_t after = 0;     // resolve once event_nr > after
  int cancelFd = -1;      // eventfd; cancel() writes 1 to it
  // The outcome, written by the waiting thread before it hands over to JS.
  bool ok = false;
  uint32_t eventNr = 0;
  OpError error;
  // Touched on the JS thread only.
  Napi::Promise::Deferred deferred;
  // Whether the thread-safe function may still be used. Node deletes it when
  // the environment is torn down (a worker terminated, the process exiting)
  // even while our thread still holds it; the finalizer clears this first.
  std::mutex tsfnMutex;
  bool tsfnAlive = true;

  explicit WaitState(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  ~WaitState() {
    if (cancelFd >= 0) close(cancelFd);
  }
};

using StatePtr = std::shared_ptr<WaitState>;

void Cancel(WaitState& state) {
  uint64_t one = 1;
  // An eventfd write of 1 cannot block or fail short of overflow; ignore the result.
  [[maybe_unused]] ssize_t n = write(state.cancelFd, &one, sizeof one);
}

bool Cancelled(const WaitState& state) {
  pollfd fd{state.cancelFd, POLLIN, 0};
  return poll(&fd, 1, 0) > 0 && (fd.revents & POLLIN);
}

// DM_DEV_ARM_POLL ioctl (driver 4.37+, Linux 4.13+). In: only the version
// header of struct dm_ioctl; no name, no flags. Records the global event
// counter in this fd; poll() reports POLLIN once the counter moves past it.
void Arm(int controlFd, const WaitState& state) {
  dm_ioctl io{};
  io.version[0] = DM_VERSION_MAJOR;  // minor 0: any 4.x driver accepts the header
  io.data_size = sizeof io;
  io.data_start = sizeof io;
  if (ioctl(controlFd, DM_DEV_ARM_POLL, &io) < 0) {
    ThrowErrno("waitEvent", state.name, "DM_DEV_ARM_POLL failed");
  }
}

// True when the wait is over (state.ok set); throws OpError to reject.
bool Check(WaitState& state) {
  DmLock lock;
  CallContext call{"waitEvent", state.name};
  DeviceInfo info = GetInfo(lock, call, state.name);
  if (!info.exists) Fail(lock, call, ENXIO, "the device does not exist (any more)");
  if (info.eventNr > state.after) {
    state.ok = true;
    state.eventNr = info.eventNr;
    return true;
  }
  return false;
}

// The waiting thread's body: sets state.ok/eventNr or state.error.
void Wait(WaitState& state) {
  int controlFd = -1;
  try {
    if (Cancelled(state)) throw OpError(ECANCELED, "waitEvent", state.name, "cancelled");
    // The first check runs libdevmapper, which creates /dev/mapper/control
    // if it is missing, before the fd below is opened.
    if (Check(state)) return;
    controlFd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
    if (controlFd < 0) ThrowErrno("waitEvent", state.name, "cannot open /dev/mapper/control");
    for (;;) {
      Arm(controlFd, state);
      if (Check(state)) break;
      pollfd fds[2] = {{controlFd, POLLIN, 0}, {state.cancelFd, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        ThrowErrno("waitEvent", state.name, "poll failed");
      }
      if (fds[1].revents & POLLIN) throw OpError(ECANCELED, "waitEvent", state.name, "cancelled");
      if (fds[0].revents & (POLLERR | POLLNVAL)) {
        throw OpError(EIO, "waitEvent", state.name, "poll reported an error on /dev/mapper/control");
      }
    }
  } catch (const OpError& e) {
    state.error = e;
  } catch (const std::exception& e) {
    state.error = OpError(0, "waitEvent", state.name, e.what());
  }
  if (controlFd >= 0) close(controlFd);
}

// Runs on the JS thread with the finished state (or with a null env while
// the environment is torn down, when only memory is freed).
void Settle(Napi::Env env, Napi::Function /*unused*/, StatePtr* /*context*/, StatePtr* data) {
  StatePtr state = std::move(*data);
  delete data;
  if (env == nullptr) return;
  Napi::HandleScope scope(env);
  if (state->ok) {
    state->deferred.Resolve(Napi::Number::New(env, state->eventNr));
  } else {
    state->deferred.Reject(ToJsError(env, state->error).Value());
  }
}

using Tsfn = Napi::TypedThreadSafeFunction<StatePtr, StatePtr, Settle>;

// Called after the thread released the thread-safe function, or when the
// environment goes away first (e.g. a worker is terminated): then the cancel
// wakes the thread so it ends, and the flag keeps it off the deleted function.
void Finalize(Napi::Env /*env*/, void* /*data*/, StatePtr* context) {
  StatePtr state = std::move(*context);
  delete context;
  {
    std::lock_guard<std::mutex> guard(state->tsfnMutex);
    state->tsfnAlive = false;
  }
  Cancel(*state);
}

Napi::Value WaitEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  uint64_t after = U64Value(info[1], "eventNr");
  if (after > UINT32_MAX) throw Napi::RangeError::New(env, "eventNr must fit in 32 bits");

  StatePtr state = std::make_shared<WaitState>(env);
  state->name = name;
  state->after = static_cast<uint32_t>(after);
  state->cancelFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->cancelFd < 0) {
    OpError error(errno, "waitEvent", name, "cannot create an eventfd");
    throw ToJsError(env, error);
  }

  // The pending wait keeps the event loop alive, like any pending I/O;
  // cancel() ends it.
  Tsfn tsfn = Tsfn::New(env, "devmapper.waitEvent", 0, 1, new StatePtr(state), Finalize,
                        static_cast<void*>(nullptr));
  std::thread([state, tsfn]() mutable {
    Wait(*state);
    std::lock_guard<std::mutex> guard(state->tsfnMutex);
    if (!state->tsfnAlive) return;  // the environment is gone: nobody to tell
    auto* data = new StatePtr(state);
    // Queue size 0 means unbounded, so this does not block.
    if (tsfn.BlockingCall(data) != napi_ok) delete data;
    tsfn.Release();
  }).detach();

  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", state->deferred.Promise());
  handle.Set("cancel", Napi::Function::New(
                           env,
                           [state](const Napi::CallbackInfo& cbInfo) -> Napi::Value {
                             Cancel(*state);
                             return cbInfo.Env().Undefined();
                           },
                           "cancel"));
  return handle;
}

}  // namespace

void RegisterWaitEvent(Napi::Env env, Napi::Object exports) {
  exports.Set("waitEvent", Napi::Function::New(env, WaitEvent, "waitEvent"));
}

}  // namespace dmaddon
