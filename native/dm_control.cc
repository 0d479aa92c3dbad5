#include "dm_control.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "fd.h"

namespace dmaddon {
namespace {

constexpr const char* kControl = "/dev/mapper/control";
// The misc device numbers of the control node (MISC_MAJOR, MAPPER_CTRL_MINOR);
// opening a node with these numbers autoloads dm_mod on Linux >= 2.6.36.
constexpr unsigned kMiscMajor = 10;
constexpr unsigned kMapperCtrlMinor = 236;

bool reached = false;       // guarded by the DmLock
bool cloexecDone = false;   // guarded by the DmLock

// Opens the control node, making it first (as libdevmapper would) when /dev
// has none, so that the open can load dm_mod; what it made is removed again
// when that fails. Returns -1 with errno set.
int OpenControl() {
  int fd = open(kControl, O_RDWR | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  bool madeDir = mkdir("/dev/mapper", 0755) == 0;
  if (mknod(kControl, S_IFCHR | 0600, makedev(kMiscMajor, kMapperCtrlMinor)) != 0) {
    int err = errno;
    if (madeDir) rmdir("/dev/mapper");
    errno = err;
    return -1;
  }
  fd = open(kControl, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    unlink(kControl);
    if (madeDir) rmdir("/dev/mapper");
    errno = err;
  }
  return fd;
}

}  // namespace

void ReachDriver(DmLock& lock, const CallContext& call) {
  if (reached) return;
  Fd control(OpenControl());
  if (control.get() < 0) Fail(lock, call, errno, "cannot reach the device-mapper driver (/dev/mapper/control)");
  dm_ioctl version{};
  version.version[0] = DM_VERSION_MAJOR;
  version.data_size = sizeof version;
  // DM_VERSION ioctl: the driver is there and speaks protocol 4.
  if (ioctl(control.get(), DM_VERSION, &version) != 0) {
    Fail(lock, call, errno, "the device-mapper driver does not answer (DM_VERSION)");
  }
  reached = true;
}

bool DriverReached() { return reached; }

void MarkControlFdCloexec() {
  if (cloexecDone) return;
  struct stat control;
  if (stat(kControl, &control) != 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  int self = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || fd == self) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0) continue;
    if (!S_ISCHR(st.st_mode) || st.st_rdev != control.st_rdev) continue;
    int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0 && fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC) == 0) cloexecDone = true;
  }
  closedir(dir);
}

}  // namespace dmaddon
