// Each file registers its own exports on the addon's exports object.
#pragma once

#include <napi.h>

namespace dmaddon {

void RegisterDmOps(Napi::Env env, Napi::Object exports);     // dm_ops.cc
void RegisterWaitEvent(Napi::Env env, Napi::Object exports); // wait_event.cc
void RegisterLoop(Napi::Env env, Napi::Object exports);      // loop.cc
void RegisterBlockdev(Napi::Env env, Napi::Object exports);  // blockdev.cc

}  // namespace dmaddon
