// Every operation that waits for the runtime, one method each: copies in and out of an
// NDArray, allocation, module loading, function lookup, the global name list, device
// preparation and synchronisation run on the runtime's worker thread and settle a Promise,
// so the event loop never waits behind another caller's long model call on the same
// runtime. (Calls are FunctionWrap::CallAsync in handles.cc; weights, weight_loader.cc.)
#include "addon.h"
#include "async_task.h"
#include "convert.h"
#include "handles.h"
#include "runtime.h"

namespace sdmali {
namespace {

// A copy between an NDArray and JavaScript memory. The buffer is pinned by a strong
// reference until the Promise settles, so the GC cannot collect it while the worker reads
// or writes it; the reference is made and dropped on the JavaScript thread only.
struct BufferCopy {
  HandleRef array;
  ByteView view;
  napi_ref buffer = nullptr;
};

std::shared_ptr<BufferCopy> pinBuffer(Napi::Env env, HandleRef array, const Napi::Value& value, const char* what) {
  auto copy = std::make_shared<BufferCopy>();
  copy->view = viewFromJs(env, value);
  if (copy->view.length != array->info().nbytes) {
    throwInvalidArgument(env, std::string(what) + ": the buffer has " + std::to_string(copy->view.length) +
                        " bytes, the NDArray holds " + std::to_string(array->info().nbytes));
  }
  copy->array = std::move(array);
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, value, 1, &copy->buffer), copy);
  return copy;
}

void unpinBuffer(Napi::Env env, BufferCopy& copy) {
  if (copy.buffer != nullptr) napi_delete_reference(env, copy.buffer);
  copy.buffer = nullptr;
}

struct Allocation {
  EmptyRequest request;
  RawHandle array{HandleKind::NDArray, nullptr};
  ArrayInfo info;
};

struct ModuleLoad {
  std::string path;
  std::string format;
  RawHandle module{HandleKind::Module, nullptr};
};

struct FunctionLookup {
  HandleRef module;  // null for a global function
  std::string name;
  bool queryImports = true;
  RawHandle function{HandleKind::Function, nullptr};
  std::string moduleKind;
};

struct DeviceTask {
  DeviceId device;
};

struct GlobalNames {
  std::vector<std::string> names;
};

Napi::Value functionOrNull(Napi::Env env, const std::shared_ptr<Core>& core, FunctionLookup& lookup) {
  if (lookup.function.ptr == nullptr) return env.Null();
  return wrapHandle(env, core, lookup.function, {}, lookup.moduleKind);
}

}  // namespace

// copyFromAsync(view) -> Promise<undefined>
Napi::Value NDArrayWrap::CopyFromAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  Napi::Env env = info.Env();
  auto copy = pinBuffer(env, require(env, "NDArray"), info[0], "copyFromAsync");
  auto core = copy->array->core();
  return queueAsync<BufferCopy>(
      env, core, copy,
      [core](BufferCopy& c) { return core->backend().copyFromBytes(c.array->ptr(), c.view.data, c.view.length); },
      [](Napi::Env env, BufferCopy&) { return env.Undefined(); }, unpinBuffer);
}

// copyToAsync(view) -> Promise<view>
Napi::Value NDArrayWrap::CopyToAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kNDArray);
  Napi::Env env = info.Env();
  auto copy = pinBuffer(env, require(env, "NDArray"), info[0], "copyToAsync");
  auto core = copy->array->core();
  return queueAsync<BufferCopy>(
      env, core, copy,
      [core](BufferCopy& c) { return core->backend().copyToBytes(c.array->ptr(), c.view.data, c.view.length); },
      [](Napi::Env env, BufferCopy& c) {
        napi_value buffer = nullptr;
        NAPI_THROW_IF_FAILED(env, napi_get_reference_value(env, c.buffer, &buffer), env.Undefined());
        return Napi::Value(env, buffer);
      },
      unpinBuffer);
}

// getFunctionAsync(name, queryImports) -> Promise<NativePackedFunction | null>
Napi::Value ModuleWrap::GetFunctionAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kModule);
  Napi::Env env = info.Env();
  auto lookup = std::make_shared<FunctionLookup>();
  lookup->module = require(env, "Module");
  if (!info[0].IsString()) throwInvalidArgument(env, "getFunction: the name must be a string");
  lookup->name = info[0].As<Napi::String>().Utf8Value();
  lookup->queryImports = info[1].IsUndefined() ? true : info[1].ToBoolean().Value();
  auto core = lookup->module->core();
  return queueAsync<FunctionLookup>(
      env, core, lookup,
      [core](FunctionLookup& l) -> Status {
        if (auto e = core->backend().getFunction(l.module->ptr(), l.name, l.queryImports, &l.function)) return e;
        if (l.function.ptr != nullptr && core->backend().moduleTypeKey(l.module->ptr(), &l.moduleKind)) l.moduleKind.clear();
        l.module.reset();  // dropped here, on the worker
        return {};
      },
      [core](Napi::Env env, FunctionLookup& l) { return functionOrNull(env, core, l); });
}

// loadModuleAsync(path, format) -> Promise<NativeModule>
Napi::Value RuntimeWrap::LoadModuleAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  if (!info[0].IsString()) throwInvalidArgument(env, "loadModule: the path must be a string");
  auto load = std::make_shared<ModuleLoad>();
  load->path = info[0].As<Napi::String>().Utf8Value();
  load->format = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto core = core_;
  return queueAsync<ModuleLoad>(
      env, core, load, [core](ModuleLoad& l) { return core->backend().loadModule(l.path, l.format, &l.module); },
      [core](Napi::Env env, ModuleLoad& l) { return wrapHandle(env, core, l.module, {}, {}); });
}

// getGlobalAsync(name) -> Promise<NativePackedFunction | null>
Napi::Value RuntimeWrap::GetGlobalAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  if (!info[0].IsString()) throwInvalidArgument(env, "getGlobalFunction: the name must be a string");
  auto lookup = std::make_shared<FunctionLookup>();
  lookup->name = info[0].As<Napi::String>().Utf8Value();
  auto core = core_;
  return queueAsync<FunctionLookup>(
      env, core, lookup, [core](FunctionLookup& l) { return core->backend().getGlobal(l.name, &l.function); },
      [core](Napi::Env env, FunctionLookup& l) { return functionOrNull(env, core, l); });
}

// emptyAsync(shape, dtype, deviceType, deviceId) -> Promise<NativeNDArray>
Napi::Value RuntimeWrap::EmptyAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  auto alloc = std::make_shared<Allocation>();
  alloc->request = emptyRequestFromJs(info);
  auto core = core_;
  return queueAsync<Allocation>(
      env, core, alloc,
      [core](Allocation& a) {
        return core->backend().arrayAlloc(a.request.shape, a.request.dtype, a.request.device, &a.array, &a.info);
      },
      [core](Napi::Env env, Allocation& a) { return wrapHandle(env, core, a.array, std::move(a.info), {}); });
}

// prepareDeviceAsync(deviceType, deviceId) -> Promise<undefined>: readies a device before
// its first use (tvm-ffi loads the device's companion library, e.g. libtvm_runtime_opencl.so).
Napi::Value RuntimeWrap::PrepareDeviceAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  auto task = std::make_shared<DeviceTask>();
  task->device = deviceFromJs(env, info[0], info[1]);
  auto core = core_;
  return queueAsync<DeviceTask>(
      env, core, task, [core](DeviceTask& t) { return core->backend().prepareDevice(t.device); },
      [](Napi::Env env, DeviceTask&) { return env.Undefined(); });
}

// syncAsync(deviceType, deviceId) -> Promise<undefined>: waits for the device on the worker
// thread. On a GPU this is where a long model call is actually waited for.
Napi::Value RuntimeWrap::SyncAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  auto task = std::make_shared<DeviceTask>();
  task->device = deviceFromJs(env, info[0], info[1]);
  auto core = core_;
  return queueAsync<DeviceTask>(
      env, core, task, [core](DeviceTask& t) { return core->backend().synchronize(t.device); },
      [](Napi::Env env, DeviceTask&) { return env.Undefined(); });
}

// listGlobalNamesAsync() -> Promise<string[]>
Napi::Value RuntimeWrap::ListGlobalNamesAsync(const Napi::CallbackInfo& info) {
  checkThis(info, tags::kRuntime);
  Napi::Env env = info.Env();
  require(env);
  auto list = std::make_shared<GlobalNames>();
  auto core = core_;
  return queueAsync<GlobalNames>(
      env, core, list, [core](GlobalNames& l) { return core->backend().listGlobalNames(&l.names); },
      [](Napi::Env env, GlobalNames& l) {
        Napi::Array out = Napi::Array::New(env, l.names.size());
        for (size_t i = 0; i < l.names.size(); ++i) out.Set(static_cast<uint32_t>(i), l.names[i]);
        return Napi::Value(out);
      });
}

}  // namespace sdmali
