// libsdmali_opencl.so: sd-mali's OpenCL forwarding library, SONAME libOpenCL.so, linked
// against the ICD loader libOpenCL.so.1.
//
// TVM opens OpenCL itself with dlopen("libOpenCL.so") and looks every entry point up with
// dlsym on that handle. glibc's dlopen returns an already-loaded object whose SONAME
// matches, and dlsym searches that object and then its dependencies. Loaded before TVM
// touches OpenCL, this library is therefore what TVM talks to:
//  - it stands in for the unversioned development link that Debian ships only in
//    ocl-icd-opencl-dev (every function it does not define resolves to libOpenCL.so.1);
//  - it defines clCreateProgramWithSource, clBuildProgram and clReleaseProgram, and keeps
//    the device binaries of programs built from source in a persistent cache, so the next
//    process makes them from binaries instead of compiling them again (Mali's driver keeps
//    no cache of its own, and a UNet's few hundred programs take minutes to build).
// This works the same for every TVM version, as it sits below TVM rather than in its API.
#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cl_api.h"
#include "program_store.h"

#define SDMALI_EXPORT extern "C" __attribute__((visibility("default")))

namespace sdmali {
namespace {

struct RealOpenCl {
  cl::CreateProgramWithSourceFn createProgramWithSource = nullptr;
  cl::CreateProgramWithBinaryFn createProgramWithBinary = nullptr;
  cl::BuildProgramFn buildProgram = nullptr;
  cl::ReleaseProgramFn releaseProgram = nullptr;
  cl::GetContextInfoFn getContextInfo = nullptr;
  cl::GetDeviceInfoFn getDeviceInfo = nullptr;
  cl::GetPlatformInfoFn getPlatformInfo = nullptr;
  cl::GetProgramInfoFn getProgramInfo = nullptr;
  bool complete() const {
    return createProgramWithSource && createProgramWithBinary && buildProgram && releaseProgram && getContextInfo &&
           getDeviceInfo && getPlatformInfo && getProgramInfo;
  }
};

// The ICD loader this library was linked against (already loaded as its dependency).
const RealOpenCl& real() {
  static const RealOpenCl fns = [] {
    RealOpenCl r;
    void* lib = dlopen("libOpenCL.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (lib == nullptr) lib = dlopen("libOpenCL.so.1", RTLD_LAZY);
    if (lib == nullptr) return r;
    r.createProgramWithSource = reinterpret_cast<cl::CreateProgramWithSourceFn>(dlsym(lib, "clCreateProgramWithSource"));
    r.createProgramWithBinary = reinterpret_cast<cl::CreateProgramWithBinaryFn>(dlsym(lib, "clCreateProgramWithBinary"));
    r.buildProgram = reinterpret_cast<cl::BuildProgramFn>(dlsym(lib, "clBuildProgram"));
    r.releaseProgram = reinterpret_cast<cl::ReleaseProgramFn>(dlsym(lib, "clReleaseProgram"));
    r.getContextInfo = reinterpret_cast<cl::GetContextInfoFn>(dlsym(lib, "clGetContextInfo"));
    r.getDeviceInfo = reinterpret_cast<cl::GetDeviceInfoFn>(dlsym(lib, "clGetDeviceInfo"));
    r.getPlatformInfo = reinterpret_cast<cl::GetPlatformInfoFn>(dlsym(lib, "clGetPlatformInfo"));
    r.getProgramInfo = reinterpret_cast<cl::GetProgramInfoFn>(dlsym(lib, "clGetProgramInfo"));
    return r;
  }();
  return fns;
}

struct Stats {
  std::atomic<uint64_t> sourceBuilds{0};   // programs compiled from source
  std::atomic<uint64_t> binaryHits{0};     // programs made from a cached binary
  std::atomic<uint64_t> stored{0};         // binaries written to the cache
  std::atomic<uint64_t> rejected{0};       // cached binaries the driver refused (deleted)
  std::atomic<uint64_t> corrupt{0};        // damaged entries (deleted)
  std::atomic<uint64_t> writeFailures{0};  // binaries that could not be written
  std::atomic<uint64_t> bypassed{0};       // programs the cache does not handle (several devices, ...)
};

Stats& stats() {
  static Stats s;
  return s;
}

ProgramStore& store() {
  static ProgramStore s;
  return s;
}

// What the forwarding layer knows of a program it created.
struct Tracked {
  Digest key{};
  cl::DeviceId device = nullptr;
  bool cacheable = false;  // false: the cache is off, or the context has several devices
  bool fromBinary = false;
  std::string builtOptions;  // fromBinary: the options it was already built with
  // Built from source, binary not stored yet. The binary is taken at the next flush (or
  // release), not right after the build: by then the kernels have run, and a driver that
  // compiles per launch configuration (PoCL) has put that code into the binary too.
  bool pendingStore = false;
  std::string pendingOptions;
};

std::mutex& trackedMutex() {
  static std::mutex m;
  return m;
}

std::unordered_map<cl::Program, Tracked>& tracked() {
  static std::unordered_map<cl::Program, Tracked> t;
  return t;
}

std::string deviceString(cl::DeviceId device, cl::Uint what) {
  size_t size = 0;
  if (real().getDeviceInfo(device, what, 0, nullptr, &size) != cl::kSuccess || size == 0 || size > 65536) return {};
  std::string s(size, '\0');
  if (real().getDeviceInfo(device, what, size, s.data(), nullptr) != cl::kSuccess) return {};
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::string platformVersion(cl::DeviceId device) {
  cl::PlatformId platform = nullptr;
  if (real().getDeviceInfo(device, cl::kDevicePlatform, sizeof platform, &platform, nullptr) != cl::kSuccess) return {};
  size_t size = 0;
  if (real().getPlatformInfo(platform, cl::kPlatformVersion, 0, nullptr, &size) != cl::kSuccess || size == 0 || size > 65536) return {};
  std::string s(size, '\0');
  if (real().getPlatformInfo(platform, cl::kPlatformVersion, size, s.data(), nullptr) != cl::kSuccess) return {};
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

// The one device of a context, or null when it has none or several (not cached).
cl::DeviceId singleDevice(cl::Context context) {
  size_t size = 0;
  if (real().getContextInfo(context, cl::kContextDevices, 0, nullptr, &size) != cl::kSuccess || size != sizeof(cl::DeviceId)) return nullptr;
  cl::DeviceId device = nullptr;
  if (real().getContextInfo(context, cl::kContextDevices, sizeof device, &device, nullptr) != cl::kSuccess) return nullptr;
  return device;
}

// The key: the exact source, and the device and driver that would compile it.
Digest programKey(cl::DeviceId device, cl::Uint count, const char** strings, const size_t* lengths) {
  Sha256 h;
  const std::string header = "sd-mali OpenCL program cache v1";
  h.update(header.data(), header.size() + 1);
  for (cl::Uint what : {cl::kDeviceName, cl::kDeviceVendor, cl::kDriverVersion, cl::kDeviceVersion}) {
    std::string s = deviceString(device, what);
    h.update(s.data(), s.size() + 1);  // with the NUL, so fields cannot run into each other
  }
  std::string p = platformVersion(device);
  h.update(p.data(), p.size() + 1);
  for (cl::Uint i = 0; i < count; i++) {
    size_t n = (lengths != nullptr && lengths[i] != 0) ? lengths[i] : std::strlen(strings[i]);
    h.update(strings[i], n);
  }
  return h.finish();
}

std::string optionsOf(const char* options) { return options != nullptr ? options : ""; }

// A program from the cached binary, already built with the options it was stored with;
// null (and the entry deleted) when the driver refuses it.
cl::Program fromCache(cl::Context context, cl::DeviceId device, const Digest& key, std::string* builtOptions) {
  ProgramEntry entry;
  LoadOutcome outcome = store().load(key, &entry);
  if (outcome == LoadOutcome::Corrupt) stats().corrupt++;
  if (outcome != LoadOutcome::Hit) return nullptr;
  const unsigned char* bytes = entry.binary.data();
  size_t size = entry.binary.size();
  cl::Int status = cl::kSuccess;
  cl::Int err = cl::kSuccess;
  cl::Program program = real().createProgramWithBinary(context, 1, &device, &size, &bytes, &status, &err);
  if (program != nullptr && err == cl::kSuccess && status == cl::kSuccess) {
    err = real().buildProgram(program, 1, &device, entry.options.empty() ? nullptr : entry.options.c_str(), nullptr, nullptr);
    if (err == cl::kSuccess) {
      *builtOptions = entry.options;
      return program;
    }
  }
  if (program != nullptr) real().releaseProgram(program);
  store().remove(key);
  stats().rejected++;
  return nullptr;
}

// After a successful build from source: keep the device binary for next time.
void keepBinary(cl::Program program, const Tracked& t, const std::string& options) {
  cl::Uint devices = 0;
  if (real().getProgramInfo(program, cl::kProgramNumDevices, sizeof devices, &devices, nullptr) != cl::kSuccess || devices != 1) {
    stats().bypassed++;
    return;
  }
  size_t size = 0;
  if (real().getProgramInfo(program, cl::kProgramBinarySizes, sizeof size, &size, nullptr) != cl::kSuccess || size == 0) {
    stats().bypassed++;
    return;
  }
  std::vector<unsigned char> binary(size);
  unsigned char* out = binary.data();
  if (real().getProgramInfo(program, cl::kProgramBinaries, sizeof out, &out, nullptr) != cl::kSuccess) {
    stats().bypassed++;
    return;
  }
  if (store().store(t.key, options, binary.data(), binary.size())) stats().stored++;
  else stats().writeFailures++;
}

}  // namespace
}  // namespace sdmali

using namespace sdmali;

SDMALI_EXPORT cl::Program clCreateProgramWithSource(cl::Context context, cl::Uint count, const char** strings,
                                                    const size_t* lengths, cl::Int* errcode) {
  const RealOpenCl& r = real();
  if (r.createProgramWithSource == nullptr) {
    if (errcode != nullptr) *errcode = cl::kInvalidValue;
    return nullptr;
  }
  cl::DeviceId device = nullptr;
  if (r.complete() && store().enabled() && count > 0 && strings != nullptr) {
    device = singleDevice(context);
    if (device == nullptr) stats().bypassed++;
  }
  if (device == nullptr) {
    // Not cached, but still counted when it is built.
    cl::Program program = r.createProgramWithSource(context, count, strings, lengths, errcode);
    if (program != nullptr) {
      std::lock_guard<std::mutex> lock(trackedMutex());
      tracked()[program] = Tracked{};
    }
    return program;
  }
  Tracked t;
  t.key = programKey(device, count, strings, lengths);
  t.device = device;
  t.cacheable = true;
  cl::Program program = fromCache(context, device, t.key, &t.builtOptions);
  if (program != nullptr) {
    t.fromBinary = true;
    if (errcode != nullptr) *errcode = cl::kSuccess;
  } else {
    program = r.createProgramWithSource(context, count, strings, lengths, errcode);
    if (program == nullptr) return nullptr;
  }
  std::lock_guard<std::mutex> lock(trackedMutex());
  tracked()[program] = t;
  return program;
}

SDMALI_EXPORT cl::Int clBuildProgram(cl::Program program, cl::Uint numDevices, const cl::DeviceId* devices,
                                     const char* options, cl::BuildNotify notify, void* userData) {
  const RealOpenCl& r = real();
  if (r.buildProgram == nullptr) return cl::kInvalidValue;
  Tracked t{};
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(trackedMutex());
    auto it = tracked().find(program);
    if (it != tracked().end()) {
      t = it->second;
      known = true;
    }
  }
  if (known && t.fromBinary) {
    // Built when it was made from the binary, with the same options: nothing left to do.
    // Other options, or a callback to honour: build again (quick for a binary).
    if (notify == nullptr && optionsOf(options) == t.builtOptions) {
      stats().binaryHits++;
      return cl::kSuccess;
    }
    stats().binaryHits++;
    return r.buildProgram(program, numDevices, devices, options, notify, userData);
  }
  cl::Int err = r.buildProgram(program, numDevices, devices, options, notify, userData);
  if (known) stats().sourceBuilds++;
  if (known && t.cacheable && err == cl::kSuccess) {
    std::lock_guard<std::mutex> lock(trackedMutex());
    auto it = tracked().find(program);
    if (it != tracked().end()) {
      it->second.pendingStore = true;
      it->second.pendingOptions = optionsOf(options);
    }
  }
  return err;
}

SDMALI_EXPORT cl::Int clReleaseProgram(cl::Program program) {
  const RealOpenCl& r = real();
  if (r.releaseProgram == nullptr) return cl::kInvalidValue;
  {
    // Store what is pending, then forget it: a later program may get the same address. (A
    // program retained elsewhere and built again after this would only miss the cache.)
    std::lock_guard<std::mutex> lock(trackedMutex());
    auto it = tracked().find(program);
    if (it != tracked().end()) {
      if (it->second.pendingStore) keepBinary(program, it->second, it->second.pendingOptions);
      tracked().erase(it);
    }
  }
  return r.releaseProgram(program);
}

// The control surface the addon finds with dlsym.
struct SdmaliOpenClCacheStats {
  uint64_t sourceBuilds, binaryHits, stored, rejected, corrupt, writeFailures, bypassed;
};

SDMALI_EXPORT int sdmali_opencl_forwarder_abi() { return 1; }

// dir empty or null: the cache is off (programs pass straight through).
SDMALI_EXPORT void sdmali_opencl_cache_configure(const char* dir, uint64_t maxBytes) {
  store().configure(dir != nullptr ? dir : "", maxBytes);
}

// Stores the binaries of every program built from source since the last flush; returns
// how many were stored. Call it once the kernels have run (after a first generate).
SDMALI_EXPORT uint64_t sdmali_opencl_cache_flush() {
  std::lock_guard<std::mutex> lock(trackedMutex());
  uint64_t before = stats().stored.load();
  for (auto& [program, t] : tracked()) {
    if (!t.pendingStore) continue;
    keepBinary(program, t, t.pendingOptions);
    t.pendingStore = false;
  }
  return stats().stored.load() - before;
}

SDMALI_EXPORT void sdmali_opencl_cache_stats(SdmaliOpenClCacheStats* out) {
  if (out == nullptr) return;
  Stats& s = stats();
  *out = {s.sourceBuilds.load(), s.binaryHits.load(), s.stored.load(), s.rejected.load(), s.corrupt.load(),
          s.writeFailures.load(), s.bypassed.load()};
}
