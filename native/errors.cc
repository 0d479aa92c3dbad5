#include "errors.h"

#include <cerrno>
#include <cstring>

namespace dmaddon {

const char* ErrnoName(int errnum) {
  switch (errnum) {
#define DMADDON_ERRNO(name) \
  case name:                \
    return #name;
    // Linux aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) share a value with a
    // listed name and are left out so every case is distinct.
    DMADDON_ERRNO(EPERM) DMADDON_ERRNO(ENOENT) DMADDON_ERRNO(ESRCH)
    DMADDON_ERRNO(EINTR) DMADDON_ERRNO(EIO) DMADDON_ERRNO(ENXIO)
    DMADDON_ERRNO(E2BIG) DMADDON_ERRNO(ENOEXEC) DMADDON_ERRNO(EBADF)
    DMADDON_ERRNO(ECHILD) DMADDON_ERRNO(EAGAIN) DMADDON_ERRNO(ENOMEM)
    DMADDON_ERRNO(EACCES) DMADDON_ERRNO(EFAULT) DMADDON_ERRNO(ENOTBLK)
    DMADDON_ERRNO(EBUSY) DMADDON_ERRNO(EEXIST) DMADDON_ERRNO(EXDEV)
    DMADDON_ERRNO(ENODEV) DMADDON_ERRNO(ENOTDIR) DMADDON_ERRNO(EISDIR)
    DMADDON_ERRNO(EINVAL) DMADDON_ERRNO(ENFILE) DMADDON_ERRNO(EMFILE)
    DMADDON_ERRNO(ENOTTY) DMADDON_ERRNO(ETXTBSY) DMADDON_ERRNO(EFBIG)
    DMADDON_ERRNO(ENOSPC) DMADDON_ERRNO(ESPIPE) DMADDON_ERRNO(EROFS)
    DMADDON_ERRNO(EMLINK) DMADDON_ERRNO(EPIPE) DMADDON_ERRNO(EDOM)
    DMADDON_ERRNO(ERANGE) DMADDON_ERRNO(EDEADLK) DMADDON_ERRNO(ENAMETOOLONG)
    DMADDON_ERRNO(ENOLCK) DMADDON_ERRNO(ENOSYS) DMADDON_ERRNO(ENOTEMPTY)
    DMADDON_ERRNO(ELOOP) DMADDON_ERRNO(ENOMSG) DMADDON_ERRNO(EIDRM)
    DMADDON_ERRNO(ENODATA) DMADDON_ERRNO(ETIME) DMADDON_ERRNO(EOVERFLOW)
    DMADDON_ERRNO(EBADFD) DMADDON_ERRNO(EILSEQ) DMADDON_ERRNO(EOPNOTSUPP)
    DMADDON_ERRNO(ETIMEDOUT) DMADDON_ERRNO(ESTALE) DMADDON_ERRNO(EUCLEAN)
    DMADDON_ERRNO(EREMOTEIO) DMADDON_ERRNO(EDQUOT) DMADDON_ERRNO(ENOMEDIUM)
    DMADDON_ERRNO(EMEDIUMTYPE) DMADDON_ERRNO(ECANCELED) DMADDON_ERRNO(ELIBACC)
    DMADDON_ERRNO(EOWNERDEAD) DMADDON_ERRNO(ENOTRECOVERABLE)
#undef DMADDON_ERRNO
    default:
      return "EUNKNOWN";
  }
}

void ThrowErrno(const std::string& op, const std::string& device, const std::string& what) {
  int err = errno;
  throw OpError(err, op, device, what);
}

Napi::Error ToJsError(Napi::Env env, const OpError& error) {
  std::string text = error.op;
  if (!error.device.empty()) text += " " + error.device;
  text += ": " + error.message;
  if (error.errnum > 0) text += std::string(": ") + std::strerror(error.errnum);
  text += std::string(" (") + ErrnoName(error.errnum) + ")";
  if (!error.dmLog.empty()) {
    text += " [libdevmapper:";
    for (const std::string& line : error.dmLog) text += " " + line + ";";
    text.back() = ']';
  }

  Napi::Error jsError = Napi::Error::New(env, text);
  Napi::Object obj = jsError.Value();
  obj.Set("code", Napi::String::New(env, ErrnoName(error.errnum)));
  obj.Set("errno", Napi::Number::New(env, error.errnum > 0 ? error.errnum : 0));
  obj.Set("op", Napi::String::New(env, error.op));
  if (!error.device.empty()) obj.Set("device", Napi::String::New(env, error.device));
  Napi::Array log = Napi::Array::New(env, error.dmLog.size());
  for (uint32_t i = 0; i < error.dmLog.size(); i++) log.Set(i, Napi::String::New(env, error.dmLog[i]));
  obj.Set("dmLog", log);
  return jsError;
}

}  // namespace dmaddon
