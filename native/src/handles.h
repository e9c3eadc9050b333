// JavaScript classes over runtime handles: NDArray, Module, PackedFunction and Object.
// Each is a small ObjectWrap around a shared NativeHandle; dispose() drops the wrapper's
// share, the finalizer is the safety net.
#pragma once

#include <napi.h>

#include "addon.h"
#include "core.h"

namespace sdmali {

// The bytes of a TypedArray, Buffer, DataView or ArrayBuffer (also over a SharedArrayBuffer).
struct ByteView {
  uint8_t* data = nullptr;
  size_t length = 0;
};
ByteView viewFromJs(Napi::Env env, const Napi::Value& v);

class HandleWrap {
 public:
  const HandleRef& handle() const { return handle_; }

 protected:
  HandleRef& require(Napi::Env env, const char* what) {
    if (!handle_) throwDisposed(env, what);
    return handle_;
  }
  HandleRef handle_;
};

class NDArrayWrap : public Napi::ObjectWrap<NDArrayWrap>, public HandleWrap {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NDArrayWrap(const Napi::CallbackInfo& info);
  ~NDArrayWrap() override;
  void Adopt(Napi::Env env, HandleRef handle, bool reportExternalMemory = true);

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DTypeName(const Napi::CallbackInfo& info);
  Napi::Value DeviceType(const Napi::CallbackInfo& info);
  Napi::Value DeviceIndex(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  // async_methods.cc: copies on the worker thread, settling a Promise.
  Napi::Value CopyFromAsync(const Napi::CallbackInfo& info);
  Napi::Value CopyToAsync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void releaseMemory();

  napi_env env_ = nullptr;
  int64_t reported_ = 0;
};

class ModuleWrap : public Napi::ObjectWrap<ModuleWrap>, public HandleWrap {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ModuleWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModuleWrap>(info) {
    tagInstance(info, tags::kModule);
  }
  void Adopt(HandleRef handle) { handle_ = std::move(handle); }

 private:
  Napi::Value GetFunctionAsync(const Napi::CallbackInfo& info);  // async_methods.cc
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
};

class FunctionWrap : public Napi::ObjectWrap<FunctionWrap>, public HandleWrap {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FunctionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FunctionWrap>(info) {
    tagInstance(info, tags::kFunction);
  }
  void Adopt(HandleRef handle) { handle_ = std::move(handle); }

 private:
  Napi::Value CallAsync(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
};

class ObjectWrapper : public Napi::ObjectWrap<ObjectWrapper>, public HandleWrap {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ObjectWrapper(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ObjectWrapper>(info) {
    tagInstance(info, tags::kObject);
  }
  void Adopt(HandleRef handle) { handle_ = std::move(handle); }

 private:
  Napi::Value TypeKey(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
};

}  // namespace sdmali
