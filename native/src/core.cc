#include "core.h"

namespace sdmali {

void Core::release(RawHandle handle) noexcept {
  if (handle.ptr == nullptr) return;
  if (worker_.onWorkerThread()) {
    backend_->release(handle);
    return;
  }
  Backend* backend = backend_.get();
  // post() refuses once stopped: the process is exiting, the OS reclaims the memory.
  try {
    worker_.post([backend, handle] { backend->release(handle); });
  } catch (...) {
  }
}

}  // namespace sdmali
