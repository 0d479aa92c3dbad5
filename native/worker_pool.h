// The addon's own threads for its blocking calls, instead of libuv's pool.
//
// libuv's pool has four threads shared with fs, dns, zlib and native modules
// such as LevelDB: four slow device-mapper calls (a udev wait, a flushing
// suspend) would stall all of those. These threads run only this addon's
// jobs; one is started whenever a job finds none idle, up to kMaxThreads,
// and an idle thread ends after a while.
#pragma once

#include <functional>

namespace dmaddon {

// Runs `work` on one of the addon's threads.
void RunOnWorkerThread(std::function<void()> work);

}  // namespace dmaddon
