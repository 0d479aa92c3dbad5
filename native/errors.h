// Errors of the addon: a failed call becomes an OpError on the worker thread
// and a JS Error with `code`, `errno`, `op`, `device` and `dmLog` on the JS thread.
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <vector>

namespace dmaddon {

// What went wrong in one call. Built off the JS thread, so it holds only plain data.
struct OpError : std::exception {
  int errnum = 0;               // positive errno; 0 when libdevmapper gave none
  std::string op;               // the binding call, e.g. "remove"
  std::string device;           // device name or path, empty when there is none
  std::string message;          // what failed, without the errno text
  std::vector<std::string> dmLog;  // lines libdevmapper logged during the call

  OpError() = default;
  OpError(int err, std::string opName, std::string dev, std::string msg,
          std::vector<std::string> log = {})
      : errnum(err), op(std::move(opName)), device(std::move(dev)),
        message(std::move(msg)), dmLog(std::move(log)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

// The symbolic name of an errno value ("EBUSY"); "EUNKNOWN" for 0 or an unlisted value.
const char* ErrnoName(int errnum);

// Throws an OpError for a failed system call, taking errno as it is now.
[[noreturn]] void ThrowErrno(const std::string& op, const std::string& device,
                             const std::string& what);

// The JS Error for an OpError: message "<op> <device>: <message>: <strerror> (<code>)"
// followed by the libdevmapper lines, and the properties listed above.
Napi::Error ToJsError(Napi::Env env, const OpError& error);

}  // namespace dmaddon
