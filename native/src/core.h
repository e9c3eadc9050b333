// A TVM runtime library opened in this process: its ABI implementation and the worker
// thread that makes every call into it. Lives until the Node.js environment is torn down
// (TVM runtimes cannot be safely unloaded), so handles never outlive their runtime.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "backend.h"
#include "worker.h"

namespace sdmali {

class NativeHandle;

class Core {
 public:
  Core(std::string path, void* library, std::unique_ptr<Backend> backend)
      : path_(std::move(path)), library_(library), backend_(std::move(backend)) {}

  const std::string& path() const { return path_; }
  void* library() const { return library_; }
  Backend& backend() { return *backend_; }
  Worker& worker() { return worker_; }

  // Frees a runtime handle on the worker thread (inline when already there). After
  // shutdown every handle was already freed by shutdown itself.
  void release(RawHandle handle) noexcept;

  // The environment is going away (a worker_threads Worker ending, the process exiting):
  // queued calls are cancelled, then every handle still alive is freed on the worker
  // thread, then the thread ends. Finalizers run only after this, too late to free.
  void shutdown();

  // Handles owned by wrappers, so shutdown can free those nobody disposed.
  void track(NativeHandle* handle);
  // True when `handle` still owns its runtime object (shutdown has not freed it).
  bool untrack(NativeHandle* handle);

 private:
  void releaseAll() noexcept;

  std::string path_;
  void* library_;
  std::unique_ptr<Backend> backend_;
  std::mutex liveMutex_;
  std::unordered_set<NativeHandle*> live_;
  Worker worker_;
};

// Owns one runtime handle (NDArray, Module, PackedFunc or Object). Shared between the
// JavaScript wrapper and any call in flight that uses it, so dispose() during a call
// frees the handle only after the call.
class NativeHandle {
 public:
  NativeHandle(std::shared_ptr<Core> core, RawHandle raw, ArrayInfo info = {},
               std::string typeKey = {})
      : core_(std::move(core)), raw_(raw), info_(std::move(info)), typeKey_(std::move(typeKey)) {
    core_->track(this);
  }
  ~NativeHandle() {
    if (core_->untrack(this)) core_->release(raw_);
  }
  NativeHandle(const NativeHandle&) = delete;
  NativeHandle& operator=(const NativeHandle&) = delete;

  HandleKind kind() const { return raw_.kind; }
  void* ptr() const { return raw_.ptr; }
  const ArrayInfo& info() const { return info_; }
  const std::string& typeKey() const { return typeKey_; }
  const std::shared_ptr<Core>& core() const { return core_; }
  RawHandle raw() const { return raw_; }

 private:
  std::shared_ptr<Core> core_;
  RawHandle raw_;
  ArrayInfo info_;
  std::string typeKey_;
};

}  // namespace sdmali
