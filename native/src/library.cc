#include "library.h"

#include <dlfcn.h>

#include "legacy_backend.h"

namespace sdmali {
namespace {

std::string definingFile(void* symbol) {
  Dl_info info{};
  if (dladdr(symbol, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return {};
}

// Which ABI the library speaks, from its symbols:
//  - legacy (TVM <= v0.20): TVMFuncCall + TVMArrayAlloc, no TVMFFI* functions;
//  - tvm-ffi (TVM >= v0.22): TVMFFIFunctionCall, defined in the separate libtvm_ffi;
//  - transitional (v0.21): TVMFFIFunctionCall defined inside libtvm_runtime itself.
std::string detectAbi(void* lib) {
  if (void* ffiCall = dlsym(lib, "TVMFFIFunctionCall")) {
    return definingFile(ffiCall).find("tvm_ffi") != std::string::npos ? "tvm-ffi"
                                                                        : "v0.21-transitional";
  }
  if (dlsym(lib, "TVMFuncCall") != nullptr && dlsym(lib, "TVMArrayAlloc") != nullptr) return "legacy";
  return "unknown";
}

}  // namespace

ProbeResult probeLibrary(const std::string& path) {
  ProbeResult result;
  dlerror();
  // Probe privately, so a library we refuse never lends its symbols to the process.
  void* probe = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (probe == nullptr) {
    const char* err = dlerror();
    result.failure = "open";
    result.message = err != nullptr ? err : "dlopen failed";
    return result;
  }
  result.abi = detectAbi(probe);
  result.library = probe;
  dlclose(probe);
  if (result.abi == "legacy") return result;
  result.failure = "abi";
  if (result.abi == "tvm-ffi") {
    result.message =
        "this runtime uses the tvm-ffi ABI of TVM >= v0.22, which this version of sd-mali does "
        "not implement yet; use a TVM <= v0.20 runtime (legacy ABI)";
  } else if (result.abi == "v0.21-transitional") {
    result.message =
        "this runtime uses the transitional ABI of TVM v0.21, which sd-mali does not support; "
        "use a TVM <= v0.20 runtime";
  } else {
    result.message =
        "the library exports neither the legacy TVM C API (TVMFuncCall, TVMArrayAlloc) nor "
        "tvm-ffi (TVMFFIFunctionCall): it is not a TVM runtime";
  }
  return result;
}

OpenResult openLibrary(const std::string& path) {
  OpenResult result;
  ProbeResult probe = probeLibrary(path);
  result.abi = probe.abi;
  if (!probe.failure.empty()) {
    result.failure = probe.failure;
    result.message = probe.message;
    return result;
  }
  // Promote to global visibility, as TVM's Python package does: compiled model libraries
  // resolve TVM backend symbols against the process.
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    result.failure = "open";
    result.message = err != nullptr ? err : "dlopen failed";
    return result;
  }
  std::string missing;
  auto backend = makeLegacyBackend(lib, &missing);
  if (!backend) {
    result.failure = "abi";
    result.message = "the library lacks " + missing + " of the legacy TVM C API";
    return result;
  }
  result.core = std::make_shared<Core>(path, lib, std::move(backend));
  result.library = lib;
  return result;
}

}  // namespace sdmali
