// libdevmapper, loaded at run time: the addon links no libdevmapper, so it
// loads (and the kernel-free parts work) on a machine without it. The first
// dm_* call dlopen()s it; every dm_* function the addon uses is defined in
// libdm.cc as a forwarder to the library's symbol of a pinned version.
#pragma once

#include <napi.h>

#include <string>

namespace dmaddon {

// Loads libdevmapper once; true when it is loaded. `error` gets why not
// (what was tried and which package provides it).
bool LibdmLoad(std::string* error);

// Registers `libdevmapper()`: { loaded, version?, error? } (sync; loads the library).
void RegisterLibdm(Napi::Env env, Napi::Object exports);

}  // namespace dmaddon
