#include "dm_lock.h"

#include <libdevmapper.h>

#include <cstdarg>
#include <cstdio>

#include "udev_wait.h"

namespace dmaddon {
namespace {

// Never destroyed: libdevmapper may still log from its exit handler.
std::mutex& GlobalMutex() {
  static std::mutex* mutex = new std::mutex();
  return *mutex;
}

// Set only on the thread that holds the lock, so the callback (which
// libdevmapper runs on the calling thread) knows where the lines go.
thread_local DmLock* currentHolder = nullptr;

bool initialised = false;  // guarded by GlobalMutex()

// libdevmapper's levels (libdm/misc/dm-logging.h): 3 error, 4 warning,
// 5 notice, 6 info, 7 debug; higher bits are flags such as "force stderr".
constexpr int kLevelMask = 0x0f;
constexpr int kLogWarn = 4;
constexpr size_t kMaxLines = 64;

__attribute__((format(printf, 5, 6))) void LogCallback(int level, const char* /*file*/,
                                                      int /*line*/, int dmErrnoOrClass,
                                                      const char* format, ...) {
  level &= kLevelMask;
  // Like libdevmapper's own default at verbosity 0: keep errors and warnings,
  // drop notice/info/debug. Lines logged with no holder (e.g. at exit) are dropped.
  if (level > kLogWarn || currentHolder == nullptr) return;
  char buffer[1024];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n < 0) return;
  // For error lines the fourth argument is an errno (or -1 when unknown).
  CaptureLogLine(level, dmErrnoOrClass > 0 ? dmErrnoOrClass : 0, buffer);
}

}  // namespace

void CaptureLogLine(int /*level*/, int errnum, const std::string& line) {
  DmLock* holder = currentHolder;
  if (holder == nullptr) return;
  if (holder->loggedErrno_ == 0 && errnum > 0) holder->loggedErrno_ = errnum;
  if (holder->log_.size() < kMaxLines) holder->log_.push_back(line);
}

DmLock::DmLock() : lock_(GlobalMutex()) {
  currentHolder = this;
  if (!initialised) {
    initialised = true;
    dm_log_with_errno_init(LogCallback);
    // Wait for udev through cookies when udevd runs; libdevmapper decides once
    // per process whether it does (and otherwise makes /dev/mapper nodes itself).
    dm_udev_set_sync_support(1);
    // No automatic \xNN mangling: a name with e.g. '!' would otherwise reach
    // the kernel and /dev/mapper as "a\x21b", and 127 characters could grow
    // past DM_NAME_LEN.
    dm_set_name_mangling_mode(DM_STRING_MANGLING_NONE);
    log_.clear();
    loggedErrno_ = 0;
  }
}

void DmLock::Release() {
  if (currentHolder == this) currentHolder = nullptr;
  if (lock_.owns_lock()) lock_.unlock();
}

DmLock::~DmLock() {
  if (currentHolder == this) currentHolder = nullptr;
  if (!lock_.owns_lock()) return;
  // Reached when a call threw after a task with a cookie ran: the cookie is
  // still waited for (bounded, errors dropped), but not under the lock.
  std::vector<uint32_t> cookies = TakeCookies();
  if (cookies.empty()) return;
  lock_.unlock();
  WaitForUdevQuietly(cookies, kDefaultUdevTimeoutMs);
}

std::vector<uint32_t> DmLock::TakeCookies() {
  std::vector<uint32_t> cookies;
  cookies.swap(cookies_);
  return cookies;
}

std::vector<std::string> DmLock::TakeLog() {
  std::vector<std::string> lines;
  lines.swap(log_);
  return lines;
}

}  // namespace dmaddon
