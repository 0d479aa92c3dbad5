// The one lock around libdevmapper, and the capture of what it logs.
//
// libdevmapper is not thread-safe: it keeps process-global state (its control
// fd, the list of stacked /dev/mapper node operations that dm_udev_wait
// flushes, the udev and name-mangling settings, its log function). Every
// libdevmapper call in this addon is made while a DmLock is held, so calls
// from the worker threads never overlap. Sleeps between retries and waits on
// anything but libdevmapper itself happen without it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace dmaddon {

// Internal: where the log callback hands a formatted line to the current holder.
void CaptureLogLine(int level, int errnum, const std::string& line);

class DmLock {
 public:
  // Blocks until the lock is free. The first holder in the process installs
  // the log callback (so libdevmapper never prints to stdout/stderr), turns
  // udev synchronisation on and name mangling off (names go to the kernel as
  // given; src/dm/names.ts admits only names udev keeps as they are).
  // Cookies still pending when the lock goes are waited for, bounded, after
  // it is released.
  DmLock();
  ~DmLock();
  DmLock(const DmLock&) = delete;
  DmLock& operator=(const DmLock&) = delete;

  // The error and warning lines libdevmapper logged since the lock was taken
  // (or since the last TakeLog), leaving the buffer empty.
  std::vector<std::string> TakeLog();

  // The first non-zero errno libdevmapper attached to a logged error line
  // during this hold, 0 if none. Used when dm_task_get_errno has nothing.
  int LoggedErrno() const { return loggedErrno_; }

  // A udev cookie whose task ran: it is waited for after the lock is
  // released (udev_wait.h), so one slow or lost udev event holds up only
  // its own call.
  void AddCookie(uint32_t cookie) { cookies_.push_back(cookie); }
  std::vector<uint32_t> TakeCookies();

  // Lets the lock go before the end of the scope (for the udev wait).
  void Release();

 private:
  friend void CaptureLogLine(int level, int errnum, const std::string& line);
  std::unique_lock<std::mutex> lock_;
  std::vector<std::string> log_;
  int loggedErrno_ = 0;
  std::vector<uint32_t> cookies_;
};

}  // namespace dmaddon
