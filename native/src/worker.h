// One dedicated thread per opened runtime. TVM keeps its last error, the selected device
// and the OpenCL kernel table per thread, so every call that touches a device runs here,
// in submission order: asynchronous calls from JavaScript settle a Promise once their task
// ran (see async_task.h).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sdmali {

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // What a task is, for shutdown: queued calls are cancelled there, frees still run.
  enum class Kind { Call, Free };

  // Queues a task. Returns false when it is refused (the task is dropped): a call once
  // shutdown has begun, a free once the thread has ended.
  bool post(std::function<void()> task, Kind kind = Kind::Call);

  bool onWorkerThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  bool stopped() const;
  // First step of shutdown: refuses new calls and takes the queued ones out of the queue
  // without running them (a promise whose environment is going away can never settle).
  // They are destroyed after the lock is released, so the handles they held post their frees.
  void cancelCalls();
  // Runs what is queued (frees, once cancelCalls ran), then ends the thread. Waits for a
  // call already running. Called from the main thread only.
  void stop();

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  struct Task {
    std::function<void()> run;
    Kind kind;
  };
  std::deque<Task> queue_;
  bool callsRefused_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sdmali
