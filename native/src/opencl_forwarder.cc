// The addon's side of the OpenCL forwarding library (native/opencl/): loads it before any
// TVM runtime touches OpenCL, so that TVM's dlopen("libOpenCL.so") returns it, and reaches
// its program cache controls (configure, flush, counts). The library is process-wide, as OpenCL is.
#include <dlfcn.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "addon.h"
#include "pool_task.h"

namespace sdmali {
namespace {

struct ForwarderCacheStats {
  uint64_t sourceBuilds, binaryHits, stored, rejected, corrupt, writeFailures, bypassed;
};

struct Forwarder {
  std::mutex mutex;
  void* handle = nullptr;
  std::string path;
  void (*configure)(const char*, uint64_t) = nullptr;
  void (*stats)(ForwarderCacheStats*) = nullptr;
  uint64_t (*flush)() = nullptr;
};

Forwarder& forwarder() {
  static Forwarder f;
  return f;
}

// loadOpenClForwarder(path) -> { loaded: true, path } | { loaded: false, error }
Napi::Value LoadOpenClForwarder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throwInvalidArgument(env, "loadOpenClForwarder: the path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos) throwInvalidArgument(env, "loadOpenClForwarder: the path must be a non-empty string without NUL");
  Forwarder& f = forwarder();
  std::lock_guard<std::mutex> lock(f.mutex);
  Napi::Object out = Napi::Object::New(env);
  if (f.handle == nullptr) {
    dlerror();
    // RTLD_GLOBAL as well: a runtime linked against libOpenCL.so.1 (rather than opening it)
    // then binds its program calls to the forwarder too.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      out.Set("loaded", false);
      out.Set("error", err != nullptr ? err : "dlopen failed");
      return out;
    }
    auto abi = reinterpret_cast<int (*)()>(dlsym(handle, "sdmali_opencl_forwarder_abi"));
    auto configure = reinterpret_cast<void (*)(const char*, uint64_t)>(dlsym(handle, "sdmali_opencl_cache_configure"));
    auto stats = reinterpret_cast<void (*)(ForwarderCacheStats*)>(dlsym(handle, "sdmali_opencl_cache_stats"));
    auto flush = reinterpret_cast<uint64_t (*)()>(dlsym(handle, "sdmali_opencl_cache_flush"));
    if (abi == nullptr || abi() != 1 || configure == nullptr || stats == nullptr || flush == nullptr) {
      out.Set("loaded", false);
      out.Set("error", path + " is not sd-mali's OpenCL forwarding library of this version");
      return out;  // left loaded: unloading a library that may have registered itself is worse
    }
    f.handle = handle;
    f.path = path;
    f.configure = configure;
    f.stats = stats;
    f.flush = flush;
  }
  out.Set("loaded", true);
  out.Set("path", f.path);
  return out;
}

// configureOpenClCache(dir | '', maxBytes): '' turns the cache off.
Napi::Value ConfigureOpenClCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) throwInvalidArgument(env, "configureOpenClCache(dir, maxBytes): a string and a number");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  double max = info[1].As<Napi::Number>().DoubleValue();
  if (!(max >= 0 && max <= 9007199254740991.0)) throwInvalidArgument(env, "configureOpenClCache: maxBytes must be a non-negative safe integer");
  if (dir.find('\0') != std::string::npos) throwInvalidArgument(env, "configureOpenClCache: the directory must not contain NUL");
  Forwarder& f = forwarder();
  std::lock_guard<std::mutex> lock(f.mutex);
  if (f.configure == nullptr) return Napi::Boolean::New(env, false);
  f.configure(dir.c_str(), static_cast<uint64_t>(max));
  return Napi::Boolean::New(env, true);
}

// openClCacheStats() -> counts since the process started, or null without the forwarder.
Napi::Value OpenClCacheStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Forwarder& f = forwarder();
  std::lock_guard<std::mutex> lock(f.mutex);
  if (f.stats == nullptr) return env.Null();
  ForwarderCacheStats s{};
  f.stats(&s);
  Napi::Object out = Napi::Object::New(env);
  out.Set("sourceBuilds", static_cast<double>(s.sourceBuilds));
  out.Set("binaryHits", static_cast<double>(s.binaryHits));
  out.Set("stored", static_cast<double>(s.stored));
  out.Set("rejected", static_cast<double>(s.rejected));
  out.Set("corrupt", static_cast<double>(s.corrupt));
  out.Set("writeFailures", static_cast<double>(s.writeFailures));
  out.Set("bypassed", static_cast<double>(s.bypassed));
  return out;
}

// flushOpenClCache() -> Promise<number of binaries stored>
Napi::Value FlushOpenClCache(const Napi::CallbackInfo& info) {
  Forwarder& f = forwarder();
  uint64_t (*flush)() = nullptr;
  {
    std::lock_guard<std::mutex> lock(f.mutex);
    flush = f.flush;
  }
  // Reading hundreds of program binaries back from the driver takes long: on libuv's pool.
  return PoolTask<uint64_t>::run(
      info.Env(), [flush] { return flush != nullptr ? flush() : uint64_t{0}; },
      [](Napi::Env env, uint64_t& stored) { return Napi::Number::New(env, static_cast<double>(stored)); });
}

}  // namespace

void registerOpenClForwarder(Napi::Env env, Napi::Object exports) {
  exports.Set("loadOpenClForwarder", Napi::Function::New(env, LoadOpenClForwarder, "loadOpenClForwarder"));
  exports.Set("configureOpenClCache", Napi::Function::New(env, ConfigureOpenClCache, "configureOpenClCache"));
  exports.Set("openClCacheStats", Napi::Function::New(env, OpenClCacheStats, "openClCacheStats"));
  exports.Set("flushOpenClCache", Napi::Function::New(env, FlushOpenClCache, "flushOpenClCache"));
}

}  // namespace sdmali
