// A file descriptor closed on scope exit.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "errors.h"

namespace dmaddon {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// open(2) with O_CLOEXEC, throwing an OpError (op, path) on failure.
inline Fd OpenOrThrow(const std::string& op, const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) ThrowErrno(op, path, "cannot open " + path);
  return Fd(fd);
}

}  // namespace dmaddon
