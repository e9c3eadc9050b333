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
  void* library = nullptr;
};

OpenResult openLibrary(const std::string& path);

// Checks, without loading it for good, whether `path` opens and speaks a supported ABI.
// On success `failure` is empty and `library` is the loader's handle (to compare with one
// already open); the probe is closed again.
struct ProbeResult {
  std::string failure;
  std::string message;
  std::string abi;
  void* library = nullptr;
};
ProbeResult probeLibrary(const std::string& path);

}  // namespace sdmali
