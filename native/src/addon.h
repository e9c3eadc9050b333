// Per-environment state of the addon and the helpers every wrapper shares.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <string>

#include "backend.h"
#include "core.h"

namespace sdmali {

struct AddonData {
  // Error classes defined in TypeScript (lib/errors.ts) and handed over by setErrorClasses,
  // so native code throws the same classes users import.
  Napi::FunctionReference tvmError;
  Napi::FunctionReference disposedError;
  Napi::FunctionReference ndarrayCtor;
  Napi::FunctionReference moduleCtor;
  Napi::FunctionReference functionCtor;
  Napi::FunctionReference objectCtor;
  Napi::FunctionReference runtimeCtor;
  std::map<std::string, std::shared_ptr<Core>> cores;  // by library path; never unloaded
};

AddonData& addonData(Napi::Env env);

// Throws (as a C++ exception carrying a JS error) an instance of a registered class, or a
// plain Error when the class was not registered.
// A Failure with a kind (tvm-ffi errors) becomes a TvmError carrying kind and backtrace.
[[noreturn]] void throwTvmError(Napi::Env env, const Failure& failure);
[[noreturn]] void throwDisposed(Napi::Env env, const char* what);
[[noreturn]] void throwType(Napi::Env env, const std::string& message);
// system_probe.cc: probeSharedLibrary, probeOpenClPlatforms (for doctor's OpenCL diagnosis).
void registerSystemProbes(Napi::Env env, Napi::Object exports);
// png_encode.cc: pngFilterRows (on libuv's pool) and crc32, for lib/image/png.ts.
void registerImageExports(Napi::Env env, Napi::Object exports);
// opencl_forwarder.cc: loadOpenClForwarder, configureOpenClCache, openClCacheStats.
void registerOpenClForwarder(Napi::Env env, Napi::Object exports);
[[noreturn]] void throwRange(Napi::Env env, const std::string& message);
Napi::Error makeTvmError(Napi::Env env, const Failure& failure);

// Every wrapper instance carries its class's type tag. Methods check it before touching
// `this`: called on another class's object (e.g. NDArray.prototype.copyFrom.call(module))
// node-addon-api would hand over a pointer of the wrong type.
void tagInstance(const Napi::CallbackInfo& info, const napi_type_tag& tag);
void checkThis(const Napi::CallbackInfo& info, const napi_type_tag& tag);

namespace tags {
inline constexpr napi_type_tag kNDArray{0x5d3a1f0e2b4c4d11ULL, 0x9e1f6a2b3c4d5e61ULL};
inline constexpr napi_type_tag kModule{0x5d3a1f0e2b4c4d12ULL, 0x9e1f6a2b3c4d5e62ULL};
inline constexpr napi_type_tag kFunction{0x5d3a1f0e2b4c4d13ULL, 0x9e1f6a2b3c4d5e63ULL};
inline constexpr napi_type_tag kObject{0x5d3a1f0e2b4c4d14ULL, 0x9e1f6a2b3c4d5e64ULL};
inline constexpr napi_type_tag kRuntime{0x5d3a1f0e2b4c4d15ULL, 0x9e1f6a2b3c4d5e65ULL};
}  // namespace tags

// How an NDArray's bytes are told to V8. Reported by default, so the GC runs finalizers of
// forgotten arrays before the device fills up; Unreported for arrays whose owner disposes
// them explicitly (the weights a pipeline loads: 3.9 GiB reported in 64 MiB steps make V8
// run a full collection each time, tens of milliseconds each on the event loop).
enum class ExternalMemory { Reported, Unreported };

// Wraps an owned runtime handle in the JavaScript class of its kind.
Napi::Value wrapHandle(Napi::Env env, const std::shared_ptr<Core>& core, RawHandle raw,
                       ArrayInfo info, std::string typeKey,
                       ExternalMemory external = ExternalMemory::Reported);

}  // namespace sdmali
