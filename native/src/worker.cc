#include "worker.h"

namespace sdmali {

Worker::Worker() : thread_([this] { loop(); }) {}

Worker::~Worker() { stop(); }

bool Worker::post(std::function<void()> task, Kind kind) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || (kind == Kind::Call && callsRefused_)) return false;
    queue_.push_back({std::move(task), kind});
  }
  wake_.notify_one();
  return true;
}

bool Worker::stopped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void Worker::cancelCalls() {
  std::deque<Task> cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    callsRefused_ = true;
    std::deque<Task> kept;
    for (auto& task : queue_) (task.kind == Kind::Free ? kept : cancelled).push_back(std::move(task));
    queue_.swap(kept);
  }
  cancelled.clear();  // outside the lock: dropping their handles posts frees
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && !onWorkerThread()) thread_.join();
}

void Worker::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front().run);
      queue_.pop_front();
    }
    task();  // tasks catch their own errors; see Core::run
    task = nullptr;  // drop what it captured here, on this thread
  }
}

}  // namespace sdmali
