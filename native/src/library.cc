#include "library.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <mutex>
#include <vector>

#include "ffi_backend.h"
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

std::string directoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string besideOf(const std::string& path, const char* name) { return directoryOf(path) + "/" + name; }

}  // namespace

ProbeResult probeLibrary(const std::string& path) {
  ProbeResult result;
  dlerror();
  // Probe privately, so a library we refuse never lends its symbols to the process.
  void* probe = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (probe == nullptr) {
    const char* err = dlerror();
    result.message = err != nullptr ? err : "dlopen failed";
    // A tvm-ffi runtime needs libtvm_ffi.so; when its own search path misses the one
    // beside it (no $ORIGIN RUNPATH), open that first and try again.
    void* ffiBeside = path.find('/') != std::string::npos
                          ? dlopen(besideOf(path, "libtvm_ffi.so").c_str(), RTLD_LAZY | RTLD_LOCAL)
                          : nullptr;
    if (ffiBeside != nullptr) {
      probe = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
      dlclose(ffiBeside);
    }
    dlerror();
  }
  if (probe == nullptr) {
    result.failure = "open";
    return result;
  }
  result.message.clear();
  result.abi = detectAbi(probe);
  result.library = probe;
  // An incomplete tvm-ffi core is refused here, before anything is opened globally.
  std::string missingFfi;
  if (result.abi == "tvm-ffi") makeFfiBackend(probe, "", &missingFfi);
  dlclose(probe);
  if (!missingFfi.empty()) {
    result.failure = "abi";
    result.message = "the library lacks " + missingFfi + " of the tvm-ffi C API";
    return result;
  }
  if (result.abi == "legacy" || result.abi == "tvm-ffi") return result;
  result.failure = "abi";
  if (result.abi == "v0.21-transitional") {
    result.message =
        "this runtime uses the transitional ABI of TVM v0.21, which sd-mali does not support; "
        "use a TVM <= v0.20 (legacy) or >= v0.22 (tvm-ffi) runtime";
  } else {
    result.message =
        "the library exports neither the legacy TVM C API (TVMFuncCall, TVMArrayAlloc) nor "
        "tvm-ffi (TVMFFIFunctionCall): it is not a TVM runtime";
  }
  return result;
}

namespace {

// tvm-ffi: libtvm_ffi.so is opened RTLD_GLOBAL first, as TVM's Python package does. A
// compiled model library calls TVMFFIErrorSetRaisedFromCStrParts lazily without linking
// libtvm_ffi: not global, the first error raised inside a model would end the process.
// Then libtvm_runtime.so (tensors, VM, CPU device); device libraries come later, when
// their device is first asked for (see ffi_backend.cc).
OpenResult openFfiLibrary(const std::string& path) {
  OpenResult result;
  result.abi = "tvm-ffi";
  auto fail = [&](const std::string& message) {
    result.failure = "open";
    result.message = message;
    return result;
  };
  // Where the tvm-ffi core lives: beside the runtime, else wherever the runtime's own
  // dependency search finds it.
  std::string ffiPath = besideOf(path, "libtvm_ffi.so");
  void* ffiLib = dlopen(ffiPath.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (ffiLib == nullptr) {
    void* probe = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
    void* call = probe != nullptr ? dlsym(probe, "TVMFFIFunctionCall") : nullptr;
    ffiPath = call != nullptr ? definingFile(call) : "";
    ffiLib = ffiPath.empty() ? nullptr : dlopen(ffiPath.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (probe != nullptr) dlclose(probe);
    if (ffiLib == nullptr) {
      const char* err = dlerror();
      return fail("cannot open libtvm_ffi.so for " + path + ": " + (err != nullptr ? err : "not found"));
    }
  }
  // Pointed at libtvm_ffi.so itself: the runtime is the libtvm_runtime.so beside it.
  std::string runtimePath = path;
  if (path == ffiPath || (path.size() >= 14 && path.compare(path.size() - 14, 14, "/libtvm_ffi.so") == 0)) {
    runtimePath = besideOf(path, "libtvm_runtime.so");
  }
  void* lib = dlopen(runtimePath.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    return fail(err != nullptr ? err : "dlopen failed");
  }
  std::string missing;
  auto backend = makeFfiBackend(ffiLib, directoryOf(runtimePath), &missing);
  if (!backend) {
    result.failure = "abi";
    result.message = "the library lacks " + missing + " of the tvm-ffi C API";
    return result;
  }
  result.core = std::make_shared<Core>(path, lib, std::move(backend));
  result.library = lib;
  // Recorded like a legacy runtime, so that a later runtime file of either ABI is refused.
  rememberRuntime(path, lib);
  return result;
}

}  // namespace

OpenResult openLibrary(const std::string& path) {
  OpenResult result;
  ProbeResult probe = probeLibrary(path);
  result.abi = probe.abi;
  if (!probe.failure.empty()) {
    result.failure = probe.failure;
    result.message = probe.message;
    return result;
  }
  if (probe.abi == "tvm-ffi") return openFfiLibrary(path);
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
  rememberRuntime(path, lib);
  return result;
}

namespace {

struct LoadedRuntime {
  std::string path;
  dev_t device;
  ino_t inode;
  void* library;
};

std::mutex& loadedMutex() {
  static std::mutex m;
  return m;
}

std::vector<LoadedRuntime>& loadedRuntimes() {
  static std::vector<LoadedRuntime> list;
  return list;
}

// The file the loader actually mapped for `library` (a bare name resolves through the
// search path).
std::string mappedFile(void* library, const std::string& fallback) {
  link_map* map = nullptr;
  if (dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr && map->l_name[0] != '\0') {
    return map->l_name;
  }
  return fallback;
}

}  // namespace

void rememberRuntime(const std::string& path, void* library) {
  struct stat st {};
  if (stat(mappedFile(library, path).c_str(), &st) != 0) return;
  std::lock_guard<std::mutex> lock(loadedMutex());
  for (const auto& r : loadedRuntimes()) {
    if (r.library == library) return;
  }
  loadedRuntimes().push_back({path, st.st_dev, st.st_ino, library});
}

RuntimeClash checkRuntimeClash(const std::string& path) {
  RuntimeClash result;
  std::lock_guard<std::mutex> lock(loadedMutex());
  const auto& loaded = loadedRuntimes();
  if (loaded.empty()) return result;
  // Already mapped under this or another name (a symlink, a hard link, the soname)?
  // RTLD_NOLOAD never maps anything.
  if (void* present = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
    dlclose(present);
    for (const auto& r : loaded) {
      if (r.library == present) {
        result.library = present;
        return result;
      }
    }
    // Some other library already in the process (not a runtime we opened): mapping it
    // again runs nothing, so the ordinary probe may look at it.
    return result;
  }
  struct stat st {};
  const bool bareName = path.find('/') == std::string::npos;
  if (stat(path.c_str(), &st) != 0 && !bareName) return result;  // dlopen will report it missing
  if (!bareName) {
    for (const auto& r : loaded) {
      if (r.device == st.st_dev && r.inode == st.st_ino) {
        result.library = r.library;
        return result;
      }
    }
  }
  // A different file (or a bare name the search path would resolve to one we cannot see
  // without mapping it): refuse.
  result.clash = true;
  result.loadedPath = loaded.front().path;
  return result;
}

}  // namespace sdmali
