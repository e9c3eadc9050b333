// The tvm-ffi C ABI of TVM >= v0.22 (TVMFFIFunctionCall, TVMFFIAny, objects with one
// reference count), over libtvm_ffi.so + libtvm_runtime.so and the runtime's companion
// device libraries (libtvm_runtime_opencl.so, ...).
#pragma once

#include <memory>
#include <string>

#include "backend.h"

namespace sdmali {

// Resolves the tvm-ffi symbols from an opened library (libtvm_ffi.so or a library that
// needs it). `runtimeDir` is where companion libraries are looked for. Returns null and
// fills `missing` with the first absent symbol when the ABI is incomplete.
std::unique_ptr<Backend> makeFfiBackend(void* library, const std::string& runtimeDir, std::string* missing);

}  // namespace sdmali
