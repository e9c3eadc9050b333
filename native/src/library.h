// Opening a TVM runtime library at run time and choosing the ABI implementation from the
// symbols it exports.
#pragma once

#include <memory>
#include <string>

#include "core.h"

namespace sdmali {

struct OpenResult {
  std::shared_ptr<Core> core;  // null on failure
  // On failure: "open" (dlopen failed) or "abi" (opened, but not a supported TVM runtime).
  std::string failure;
  std::string message;
  std::string abi;  // the detected ABI, also on an "abi" failure
};

OpenResult openLibrary(const std::string& path);

}  // namespace sdmali
