// One dedicated thread per opened runtime. TVM keeps its last error, the selected device
// and the OpenCL kernel table per thread, so every call that touches a device runs here,
// in submission order: synchronous calls from JavaScript block until their task ran,
// asynchronous ones resolve a Promise later (see function.cc).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace sdmali {

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Queues a task. Returns false once the worker has stopped (the task is dropped).
  bool post(std::function<void()> task);

  // Runs `fn` on the worker and waits for it; runs inline when already on the worker.
  template <typename F>
  auto runSync(F&& fn) -> decltype(fn()) {
    using R = decltype(fn());
    if (onWorkerThread()) return fn();
    std::packaged_task<R()> task(std::forward<F>(fn));
    auto result = task.get_future();
    auto shared = std::make_shared<std::packaged_task<R()>>(std::move(task));
    if (!post([shared] { (*shared)(); })) throw std::runtime_error("the TVM runtime was shut down");
    return result.get();
  }

  bool onWorkerThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  bool stopped() const;
  // Runs what is queued, then ends the thread. Called from the main thread only.
  void stop();

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sdmali
