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

namespace sdmali {

// Whether `path` may be opened next to the TVM runtime already mapped in this process.
// A second, different runtime file must never be mapped: its static initialisers register
// into the first one's global registry and abort the process. So this decides without
// mapping it: RTLD_NOLOAD asks the loader whether the file is already in, and the device
// and inode of `path` are compared with the runtime's own.
struct RuntimeClash {
  bool clash = false;       // a different runtime file is already loaded
  std::string loadedPath;   // that file, as it was first opened
  void* library = nullptr;  // when !clash and `path` is the loaded runtime: its handle
};
RuntimeClash checkRuntimeClash(const std::string& path);

// Records a runtime opened for good (its device and inode), process-wide: worker_threads
// have their own addon instance but share the loader.
void rememberRuntime(const std::string& path, void* library);

}  // namespace sdmali

