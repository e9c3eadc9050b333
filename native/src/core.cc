#include "core.h"

namespace sdmali {

void Core::release(RawHandle handle) noexcept {
  if (handle.ptr == nullptr) return;
  if (worker_.onWorkerThread()) {
    backend_->release(handle);
    return;
  }
  Backend* backend = backend_.get();
  // post() refuses a free only after shutdown, which freed every tracked handle itself.
  try {
    worker_.post([backend, handle] { backend->release(handle); }, Worker::Kind::Free);
  } catch (...) {
  }
}

void Core::track(NativeHandle* handle) {
  std::lock_guard<std::mutex> lock(liveMutex_);
  live_.insert(handle);
}

bool Core::untrack(NativeHandle* handle) {
  std::lock_guard<std::mutex> lock(liveMutex_);
  return live_.erase(handle) > 0;
}

void Core::releaseAll() noexcept {
  std::lock_guard<std::mutex> lock(liveMutex_);
  for (NativeHandle* handle : live_) {
    if (handle->raw().ptr != nullptr) backend_->release(handle->raw());
  }
  live_.clear();
}

void Core::shutdown() {
  worker_.cancelCalls();
  try {
    worker_.post([this] { releaseAll(); }, Worker::Kind::Free);
  } catch (...) {
  }
  worker_.stop();
}

}  // namespace sdmali
