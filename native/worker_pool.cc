#include "worker_pool.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace dmaddon {
namespace {

// Enough for 16 concurrent calls that each wait for udev; calls beyond it queue.
constexpr int kMaxThreads = 16;
constexpr auto kIdleExit = std::chrono::seconds(10);

struct Pool {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::function<void()>> queue;
  int threads = 0;
  int idle = 0;

  void Loop() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      idle++;
      bool woken = ready.wait_for(lock, kIdleExit, [this] { return !queue.empty(); });
      idle--;
      if (!woken) {
        threads--;
        return;
      }
      std::function<void()> work = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      work();
      lock.lock();
    }
  }
};

// Never destroyed: threads may still wait on it while the process exits.
Pool& ThePool() {
  static Pool* pool = new Pool();
  return *pool;
}

}  // namespace

void RunOnWorkerThread(std::function<void()> work) {
  Pool& pool = ThePool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.queue.push_back(std::move(work));
  if (pool.idle >= static_cast<int>(pool.queue.size()) || pool.threads >= kMaxThreads) {
    pool.ready.notify_one();
    return;
  }
  pool.threads++;
  std::thread([&pool] { pool.Loop(); }).detach();
}

}  // namespace dmaddon
