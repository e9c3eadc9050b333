// The legacy C ABI of TVM <= v0.20 (TVMFuncCall, TVMArrayAlloc, TVMModLoadFromFile, ...).
#pragma once

#include <memory>
#include <string>

#include "backend.h"

namespace sdmali {

// Resolves the legacy symbols from an opened library. Returns null and fills `missing`
// with the first absent symbol when the library does not export the whole ABI.
std::unique_ptr<Backend> makeLegacyBackend(void* library, std::string* missing);

}  // namespace sdmali
