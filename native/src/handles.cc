#include "handles.h"

#include "addon.h"
#include "async_task.h"
#include "convert.h"
#include "dtype.h"

namespace sdmali {

// The bytes behind a TypedArray, Buffer, DataView or ArrayBuffer. Read through the C API's
// data pointers rather than the view's ArrayBuffer: a view on a SharedArrayBuffer has no
// ArrayBuffer object to hand out (Napi::ArrayBuffer failed with "Invalid argument").
ByteView viewFromJs(Napi::Env env, const Napi::Value& v) {
  ByteView view;
  void* data = nullptr;
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr), view);
    view.length = v.As<Napi::TypedArray>().ByteLength();
  } else if (v.IsDataView()) {
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, v, &view.length, &data, nullptr, nullptr), view);
  } else if (v.IsArrayBuffer()) {
    auto b = v.As<Napi::ArrayBuffer>();
    data = b.Data();
    view.length = b.ByteLength();
  } else {
    throwInvalidArgument(env, "expected a TypedArray, Buffer, DataView or ArrayBuffer (a SharedArrayBuffer through a view on it)");
  }
  view.data = static_cast<uint8_t*>(data);
  return view;
}

// ---- NDArray ----------------------------------------------------------------------------

Napi::Function NDArrayWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeNDArray",
                     {InstanceAccessor<&NDArrayWrap::Shape>("shape"),
                      InstanceAccessor<&NDArrayWrap::DTypeName>("dtype"),
                      InstanceAccessor<&NDArrayWrap::DeviceType>("deviceType"),
                      InstanceAccessor<&NDArrayWrap::DeviceIndex>("deviceId"),
                      InstanceAccessor<&NDArrayWrap::ByteLength>("byteLength"),
                      InstanceAccessor<&NDArrayWrap::Disposed>("disposed"),
                      InstanceMethod<&NDArrayWrap::CopyFromAsync>("copyFromAsync"),
                      InstanceMethod<&NDArrayWrap::CopyToAsync>("copyToAsync"),
                      InstanceMethod<&NDArrayWrap::Dispose>("dispose")});
}

NDArrayWrap::NDArrayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NDArrayWrap>(info) {
  tagInstance(info, tags::kNDArray);
}

NDArrayWrap::~NDArrayWrap() { releaseMemory(); }

void NDArrayWrap::Adopt(Napi::Env env, HandleRef handle, bool reportExternalMemory) {
  handle_ = std::move(handle);
  env_ = env;
  // Tell V8 how much memory hides behind this small object, so the GC runs finalizers
  // of forgotten arrays before the device fills up (see ExternalMemory in addon.h).
  if (!reportExternalMemory) return;
  reported_ = static_cast<int64_t>(handle_->info().nbytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, reported_);
}

void NDArrayWrap::releaseMemory() {
  if (reported_ != 0 && env_ != nullptr) {
    int64_t ignored = 0;
    napi_adjust_external_memory(env_, -reported_, &ignored);
  }
  reported_ = 0;
  handle_.reset();
}

Napi::Value NDArrayWrap::Shape(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  const auto& shape = require(info.Env(), "NDArray")->info().shape;
  Napi::Array out = Napi::Array::New(info.Env(), shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(shape[i])));
  return out;
}

Napi::Value NDArrayWrap::DTypeName(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  return Napi::String::New(info.Env(), formatDType(require(info.Env(), "NDArray")->info().dtype));
}

Napi::Value NDArrayWrap::DeviceType(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  return Napi::Number::New(info.Env(), require(info.Env(), "NDArray")->info().device.type);
}

Napi::Value NDArrayWrap::DeviceIndex(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  return Napi::Number::New(info.Env(), require(info.Env(), "NDArray")->info().device.id);
}

Napi::Value NDArrayWrap::ByteLength(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  return Napi::Number::New(info.Env(), static_cast<double>(require(info.Env(), "NDArray")->info().nbytes));
}

Napi::Value NDArrayWrap::Disposed(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  return Napi::Boolean::New(info.Env(), !handle_);
}

Napi::Value NDArrayWrap::Dispose(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  releaseMemory();
  return info.Env().Undefined();
}

// ---- Module -----------------------------------------------------------------------------

Napi::Function ModuleWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeModule",
                     {InstanceMethod<&ModuleWrap::GetFunctionAsync>("getFunctionAsync"),
                      InstanceAccessor<&ModuleWrap::Disposed>("disposed"),
                      InstanceMethod<&ModuleWrap::Dispose>("dispose")});
}

Napi::Value ModuleWrap::Disposed(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kModule);
  return Napi::Boolean::New(info.Env(), !handle_);
}

Napi::Value ModuleWrap::Dispose(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kModule);
  handle_.reset();
  return info.Env().Undefined();
}

// ---- PackedFunction ---------------------------------------------------------------------

Napi::Function FunctionWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativePackedFunction",
                     {InstanceMethod<&FunctionWrap::CallAsync>("callAsync"),
                      InstanceAccessor<&FunctionWrap::Disposed>("disposed"),
                      InstanceMethod<&FunctionWrap::Dispose>("dispose")});
}

namespace {

// The Relax VM of TVM <= v0.20 dereferences a None argument while formatting its type
// error and crashes the process; no VM entry point takes None, so refuse it up front.
void rejectNullForVm(Napi::Env env, const NativeHandle& fn, const std::vector<Arg>& args) {
  if (fn.typeKey() != "relax.VirtualMachine") return;
  for (size_t i = 0; i < args.size(); ++i) {
    if (std::holds_alternative<std::monostate>(args[i])) {
      throwInvalidArgument(env, "argument " + std::to_string(i) +
                         " is null/undefined; Relax VM functions take no None arguments");
    }
  }
}

}  // namespace

namespace {

struct AsyncCall {
  HandleRef function;
  std::vector<Arg> args;
  Ret ret;
};

}  // namespace

Napi::Value FunctionWrap::CallAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kFunction);
  Napi::Env env = info.Env();
  HandleRef h = require(env, "PackedFunction");
  auto job = std::make_shared<AsyncCall>();
  job->function = h;
  job->args = argsFromJs(env, info[0], *h->core());
  rejectNullForVm(env, *h, job->args);
  auto core = h->core();
  return queueAsync<AsyncCall>(
      env, core, job,
      [core](AsyncCall& j) {
        Status err = core->backend().call(j.function->ptr(), j.args, &j.ret);
        j.args.clear();  // drop argument handles here, on the worker
        j.function.reset();
        return err;
      },
      [core](Napi::Env env, AsyncCall& j) { return retToJs(env, core, std::move(j.ret)); });
}

Napi::Value FunctionWrap::Disposed(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kFunction);
  return Napi::Boolean::New(info.Env(), !handle_);
}

Napi::Value FunctionWrap::Dispose(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kFunction);
  handle_.reset();
  return info.Env().Undefined();
}

// ---- Object -----------------------------------------------------------------------------

Napi::Function ObjectWrapper::Init(Napi::Env env) {
  return DefineClass(env, "NativeObject",
                     {InstanceAccessor<&ObjectWrapper::TypeKey>("typeKey"),
                      InstanceAccessor<&ObjectWrapper::Disposed>("disposed"),
                      InstanceMethod<&ObjectWrapper::Dispose>("dispose")});
}

Napi::Value ObjectWrapper::TypeKey(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kObject);
  return Napi::String::New(info.Env(), require(info.Env(), "TvmObject")->typeKey());
}

Napi::Value ObjectWrapper::Disposed(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kObject);
  return Napi::Boolean::New(info.Env(), !handle_);
}

Napi::Value ObjectWrapper::Dispose(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kObject);
  handle_.reset();
  return info.Env().Undefined();
}

}  // namespace sdmali
