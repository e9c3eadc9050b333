#include "runtime.h"

#include <cmath>
#include <limits>

#include "addon.h"
#include "convert.h"
#include "dtype.h"
#include "weight_loader.h"

namespace sdmali {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER
}  // namespace

Napi::Function RuntimeWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeRuntime",
                     {InstanceAccessor<&RuntimeWrap::Abi>("abi"),
                      InstanceAccessor<&RuntimeWrap::Path>("libraryPath"),
                      InstanceAccessor<&RuntimeWrap::AbiVersion>("abiVersion"),
                      InstanceAccessor<&RuntimeWrap::Disposed>("disposed"),
                      InstanceMethod<&RuntimeWrap::PrepareDeviceAsync>("prepareDeviceAsync"),
                      InstanceMethod<&RuntimeWrap::SyncAsync>("syncAsync"),
                      InstanceMethod<&RuntimeWrap::LoadModuleAsync>("loadModuleAsync"),
                      InstanceMethod<&RuntimeWrap::GetGlobalAsync>("getGlobalAsync"),
                      InstanceMethod<&RuntimeWrap::ListGlobalNamesAsync>("listGlobalNamesAsync"),
                      InstanceMethod<&RuntimeWrap::EmptyAsync>("emptyAsync"),
                      InstanceMethod<&RuntimeWrap::LoadWeightShard>("loadWeightShard"),
                      InstanceMethod<&RuntimeWrap::Dispose>("dispose")});
}

RuntimeWrap::RuntimeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RuntimeWrap>(info) {
  tagInstance(info, tags::kRuntime);
}

Core& RuntimeWrap::require(Napi::Env env) {
  if (!core_) throwDisposed(env, "runtime");
  return *core_;
}

Napi::Value RuntimeWrap::Abi(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  return Napi::String::New(info.Env(), require(info.Env()).backend().abi());
}

Napi::Value RuntimeWrap::AbiVersion(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  return Napi::String::New(info.Env(), require(info.Env()).backend().abiVersion());
}

Napi::Value RuntimeWrap::Path(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  return Napi::String::New(info.Env(), require(info.Env()).path());
}

Napi::Value RuntimeWrap::Disposed(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  return Napi::Boolean::New(info.Env(), !core_);
}

EmptyRequest emptyRequestFromJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throwInvalidArgument(env, "empty: the shape must be an array of integers");
  Napi::Array jsShape = info[0].As<Napi::Array>();
  if (jsShape.Length() > 32) throwInvalidArgument(env, "empty: at most 32 dimensions");
  if (!info[1].IsString()) throwInvalidArgument(env, "empty: the dtype must be a string such as 'float32'");
  auto dtype = parseDType(info[1].As<Napi::String>().Utf8Value());
  if (!dtype) throwInvalidArgument(env, "empty: unknown dtype '" + info[1].As<Napi::String>().Utf8Value() + "'");
  EmptyRequest request{{}, *dtype, deviceFromJs(env, info[2], info[3])};

  // Checked in double precision first: the element count must stay a safe integer.
  double elements = 1;
  for (uint32_t i = 0; i < jsShape.Length(); ++i) {
    Napi::Value d = jsShape.Get(i);
    if (!d.IsNumber()) throwInvalidArgument(env, "empty: shape[" + std::to_string(i) + "] is not a number");
    double v = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(v) || std::floor(v) != v) throwInvalidArgument(env, "empty: shape[" + std::to_string(i) + "] is not an integer");
    if (v < 0) throwInvalidArgument(env, "empty: shape[" + std::to_string(i) + "] is negative");
    // Before the cast: a double beyond int64 converts with undefined behaviour, and a zero
    // elsewhere in the shape would let it pass the size check below.
    if (v > kMaxSafeInteger) throwInvalidArgument(env, "empty: shape[" + std::to_string(i) + "] is larger than 2^53 - 1");
    elements *= v;
    request.shape.push_back(static_cast<int64_t>(v));
  }
  if (elements * static_cast<double>(request.dtype.bytes()) > static_cast<double>(1ULL << 48)) {
    throwInvalidArgument(env, "empty: the array would exceed 256 TiB");
  }
  return request;
}

Napi::Value RuntimeWrap::LoadWeightShard(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  require(info.Env());
  return loadWeightShard(info, core_);
}

Napi::Value RuntimeWrap::Dispose(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  // The library stays loaded (TVM cannot be unloaded safely) and objects made from this
  // runtime stay valid until they are disposed; only this handle stops working.
  core_.reset();
  return info.Env().Undefined();
}

}  // namespace sdmali
