// Entry point of the addon: the classes, openRuntime, and the error classes handed over
// from TypeScript.
#include "addon.h"

#include "handles.h"
#include "library.h"
#include "runtime.h"
#include "weight_loader.h"

namespace sdmali {

AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

Napi::Error makeError(Napi::Env env, Napi::FunctionReference& cls, const std::string& message) {
  if (!cls.IsEmpty()) {
    Napi::Value err = cls.New({Napi::String::New(env, message)});
    return Napi::Error(env, err);
  }
  return Napi::Error::New(env, message);
}

}  // namespace

Napi::Error makeTvmError(Napi::Env env, const Failure& failure) {
  Napi::FunctionReference& cls = addonData(env).tvmError;
  if (failure.kind.empty() || cls.IsEmpty()) return makeError(env, cls, failure.message);
  Napi::Object details = Napi::Object::New(env);
  details.Set("kind", failure.kind);
  details.Set("backtrace", failure.backtrace);
  return Napi::Error(env, cls.New({Napi::String::New(env, failure.message), details}));
}

void throwTvmError(Napi::Env env, const Failure& failure) { throw makeTvmError(env, failure); }

void throwDisposed(Napi::Env env, const char* what) {
  throw makeError(env, addonData(env).disposedError,
                  std::string("this ") + what + " was disposed and can no longer be used");
}

void tagInstance(const Napi::CallbackInfo& info, const napi_type_tag& tag) {
  info.This().As<Napi::Object>().TypeTag(&tag);
}

void checkThis(const Napi::CallbackInfo& info, const napi_type_tag& tag) {
  if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&tag)) {
    throwType(info.Env(), "Illegal invocation: the receiver is not an object of this class");
  }
}

void throwType(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

void throwRange(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

Napi::Value wrapHandle(Napi::Env env, const std::shared_ptr<Core>& core, RawHandle raw,
                       ArrayInfo info, std::string typeKey, ExternalMemory external) {
  AddonData& data = addonData(env);
  // Own the handle before anything can throw, so it is freed on every path.
  auto handle = std::make_shared<NativeHandle>(core, raw, std::move(info), std::move(typeKey));
  switch (raw.kind) {
    case HandleKind::NDArray: {
      Napi::Object obj = data.ndarrayCtor.New({});
      NDArrayWrap::Unwrap(obj)->Adopt(env, std::move(handle), external == ExternalMemory::Reported);
      return obj;
    }
    case HandleKind::Module: {
      Napi::Object obj = data.moduleCtor.New({});
      ModuleWrap::Unwrap(obj)->Adopt(std::move(handle));
      return obj;
    }
    case HandleKind::Function: {
      Napi::Object obj = data.functionCtor.New({});
      FunctionWrap::Unwrap(obj)->Adopt(std::move(handle));
      return obj;
    }
    case HandleKind::Object: {
      Napi::Object obj = data.objectCtor.New({});
      ObjectWrapper::Unwrap(obj)->Adopt(std::move(handle));
      return obj;
    }
  }
  return env.Null();
}

namespace {

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throwType(env, "setErrorClasses: expected an object");
  Napi::Object classes = info[0].As<Napi::Object>();
  AddonData& data = addonData(env);
  Napi::Value tvm = classes.Get("TvmError");
  Napi::Value disposed = classes.Get("DisposedError");
  if (!tvm.IsFunction() || !disposed.IsFunction()) throwType(env, "setErrorClasses: TvmError and DisposedError must be classes");
  data.tvmError = Napi::Persistent(tvm.As<Napi::Function>());
  data.disposedError = Napi::Persistent(disposed.As<Napi::Function>());
  return env.Undefined();
}

Napi::Object failure(Napi::Env env, const std::string& kind, const std::string& message, const std::string& abi) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("failure", kind);
  out.Set("message", message);
  if (!abi.empty()) out.Set("abi", abi);
  return out;
}

// openRuntime(path) -> { runtime } | { failure: 'open' | 'abi' | 'conflict', message, abi? }
Napi::Value OpenRuntime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throwType(env, "openRuntime: the path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  AddonData& data = addonData(env);
  std::shared_ptr<Core> core;
  if (auto it = data.cores.find(path); it != data.cores.end()) core = it->second;
  if (!core) {
    // Decided before anything maps `path`: a second runtime file would abort the process.
    RuntimeClash clash = checkRuntimeClash(path);
    if (clash.clash) {
      Napi::Object out = failure(env, "conflict",
                                 "another TVM runtime is already loaded in this process (" + clash.loadedPath +
                                     "); " + path +
                                     " is a different file, and two TVM runtimes cannot share one process",
                                 "");
      out.Set("loadedPath", clash.loadedPath);
      return out;
    }
    for (auto& [loadedPath, loaded] : data.cores) {
      if (clash.library != nullptr && loaded->library() == clash.library) core = loaded;
    }
  }
  if (!core) {
    OpenResult opened = openLibrary(path);
    if (!opened.core) return failure(env, opened.failure, opened.message, opened.abi);
    core = opened.core;
    data.cores[path] = core;
  }
  Napi::Object runtime = data.runtimeCtor.New({});
  RuntimeWrap::Unwrap(runtime)->Adopt(core);
  Napi::Object out = Napi::Object::New(env);
  out.Set("runtime", runtime);
  return out;
}

void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  // Run what is queued (frees of handles), then end the worker threads.
  for (auto& [path, core] : data->cores) core->shutdown();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  napi_add_env_cleanup_hook(env, Cleanup, data);

  Napi::Function ndarray = NDArrayWrap::Init(env);
  Napi::Function module = ModuleWrap::Init(env);
  Napi::Function function = FunctionWrap::Init(env);
  Napi::Function object = ObjectWrapper::Init(env);
  Napi::Function runtime = RuntimeWrap::Init(env);
  data->ndarrayCtor = Napi::Persistent(ndarray);
  data->moduleCtor = Napi::Persistent(module);
  data->functionCtor = Napi::Persistent(function);
  data->objectCtor = Napi::Persistent(object);
  data->runtimeCtor = Napi::Persistent(runtime);

  exports.Set("NativeNDArray", ndarray);
  exports.Set("NativeModule", module);
  exports.Set("NativePackedFunction", function);
  exports.Set("NativeObject", object);
  exports.Set("NativeRuntime", runtime);
  exports.Set("openRuntime", Napi::Function::New(env, OpenRuntime, "openRuntime"));
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses, "setErrorClasses"));
  registerSystemProbes(env, exports);
  registerImageExports(env, exports);
  registerOpenClForwarder(env, exports);
  registerWeightLoaderExports(env, exports);
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace
}  // namespace sdmali

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return sdmali::Init(env, exports);
}

NODE_API_MODULE(sd_mali, InitAddon)
