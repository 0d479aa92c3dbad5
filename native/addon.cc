// Module registration: the exports are the NativeBinding of src/dm/native.ts.
#include <napi.h>

#include "exports.h"
#include "libdm.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dmaddon::RegisterDmOps(env, exports);
  dmaddon::RegisterWaitEvent(env, exports);
  dmaddon::RegisterLoop(env, exports);
  dmaddon::RegisterBlockdev(env, exports);
  dmaddon::RegisterLibdm(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(devmapper, Init)
