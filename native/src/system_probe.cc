// Facts about the system's OpenCL set-up for `sd-mali doctor` and for the error load()
// throws when no OpenCL device is visible: can a shared library be opened under a given
// name (and which file is it), and what platforms and devices the ICD loader reports
// (each device's CL_DEVICE_TYPE, name and vendor: TVM takes a CPU device silently when
// no GPU is registered, and load() must be able to tell).
// Both run on libuv's thread pool: opening a vendor driver (PoCL pulls in LLVM) or
// enumerating platforms can take far longer than a frame.
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "addon.h"
#include "pool_task.h"

namespace sdmali {
namespace {

std::string lastDlError() {
  const char* err = dlerror();
  return err != nullptr ? err : "dlopen failed";
}

struct LibraryProbe {
  bool loaded = false;
  std::string path;
  std::string error;
};

LibraryProbe probeOpen(const std::string& name) {
  LibraryProbe out;
  dlerror();
  void* handle = dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    out.error = lastDlError();
    return out;
  }
  out.loaded = true;
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) out.path = map->l_name;
  // Not closed: a driver's library may not survive being unloaded, and TVM opens it next.
  return out;
}

// The few OpenCL 1.0 entry points needed, declared here: no OpenCL headers at build time.
using ClInt = int32_t;
using ClUint = uint32_t;
using GetPlatformIDs = ClInt (*)(ClUint, void**, ClUint*);
using GetPlatformInfo = ClInt (*)(void*, ClUint, size_t, void*, size_t*);
using GetDeviceIDs = ClInt (*)(void*, uint64_t, ClUint, void**, ClUint*);
using GetDeviceInfo = ClInt (*)(void*, ClUint, size_t, void*, size_t*);
constexpr ClUint kPlatformVersion = 0x0901;
constexpr ClUint kDeviceType = 0x1000;
constexpr ClUint kDeviceName = 0x102B;
constexpr ClUint kDeviceVendor = 0x102C;
constexpr ClUint kDriverVersion = 0x102D;
constexpr ClUint kDeviceVersion = 0x102F;
constexpr ClUint kDeviceExtensions = 0x1030;
constexpr size_t kMaxDevicesListed = 64;
constexpr ClUint kPlatformName = 0x0902;
constexpr ClUint kPlatformVendor = 0x0903;
constexpr uint64_t kDeviceTypeAll = 0xFFFFFFFF;
constexpr ClInt kDeviceNotFound = -1;

struct DeviceFacts {
  uint64_t type = 0;  // CL_DEVICE_TYPE bits: 2 CPU, 4 GPU, 8 accelerator, 16 custom
  std::string name, vendor, version, driverVersion, extensions;
};

struct PlatformFacts {
  std::string name, vendor, version;
  uint32_t devices = 0;
  int32_t deviceError = 0;
  std::vector<DeviceFacts> deviceList;
};

struct OpenClFacts {
  std::string error;        // the loader could not be opened or lacks the functions
  int32_t platformError = 0;  // clGetPlatformIDs' status (-1001: no platform)
  std::vector<PlatformFacts> platforms;
};

std::string platformString(GetPlatformInfo info, void* platform, ClUint what) {
  size_t size = 0;
  if (info(platform, what, 0, nullptr, &size) != 0 || size == 0 || size > 4096) return {};
  std::string out(size, '\0');
  if (info(platform, what, size, out.data(), nullptr) != 0) return {};
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

std::string deviceString(GetDeviceInfo info, void* device, ClUint what, size_t limit = 4096) {
  size_t size = 0;
  if (info(device, what, 0, nullptr, &size) != 0 || size == 0 || size > limit) return {};
  std::string out(size, '\0');
  if (info(device, what, size, out.data(), nullptr) != 0) return {};
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

std::vector<DeviceFacts> listDevices(GetDeviceIDs getDevices, GetDeviceInfo getInfo, void* platform, uint32_t count) {
  std::vector<DeviceFacts> out;
  if (count == 0 || getInfo == nullptr) return out;
  std::vector<void*> ids(std::min<size_t>(count, kMaxDevicesListed));
  ClUint got = 0;
  if (getDevices(platform, kDeviceTypeAll, static_cast<ClUint>(ids.size()), ids.data(), &got) != 0) return out;
  ids.resize(std::min<size_t>(got, ids.size()));
  for (void* id : ids) {
    DeviceFacts d;
    uint64_t type = 0;
    if (getInfo(id, kDeviceType, sizeof type, &type, nullptr) == 0) d.type = type;
    d.name = deviceString(getInfo, id, kDeviceName);
    d.vendor = deviceString(getInfo, id, kDeviceVendor);
    d.version = deviceString(getInfo, id, kDeviceVersion);
    d.driverVersion = deviceString(getInfo, id, kDriverVersion);
    // Drivers list dozens of extensions; an FP16 build needs cl_khr_fp16 among them.
    d.extensions = deviceString(getInfo, id, kDeviceExtensions, 65536);
    out.push_back(std::move(d));
  }
  return out;
}

OpenClFacts probeOpenCl(const std::string& loader) {
  OpenClFacts facts;
  dlerror();
  void* lib = dlopen(loader.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) {
    facts.error = lastDlError();
    return facts;
  }
  auto getPlatforms = reinterpret_cast<GetPlatformIDs>(dlsym(lib, "clGetPlatformIDs"));
  auto getInfo = reinterpret_cast<GetPlatformInfo>(dlsym(lib, "clGetPlatformInfo"));
  auto getDevices = reinterpret_cast<GetDeviceIDs>(dlsym(lib, "clGetDeviceIDs"));
  auto getDeviceInfo = reinterpret_cast<GetDeviceInfo>(dlsym(lib, "clGetDeviceInfo"));
  if (getPlatforms == nullptr || getInfo == nullptr || getDevices == nullptr) {
    facts.error = loader + " does not export clGetPlatformIDs/clGetPlatformInfo/clGetDeviceIDs: not an OpenCL library";
    return facts;
  }
  ClUint count = 0;
  facts.platformError = getPlatforms(0, nullptr, &count);
  if (facts.platformError != 0 || count == 0) return facts;
  std::vector<void*> ids(count);
  facts.platformError = getPlatforms(count, ids.data(), nullptr);
  if (facts.platformError != 0) return facts;
  for (void* id : ids) {
    PlatformFacts p;
    p.name = platformString(getInfo, id, kPlatformName);
    p.vendor = platformString(getInfo, id, kPlatformVendor);
    p.version = platformString(getInfo, id, kPlatformVersion);
    ClUint devices = 0;
    ClInt status = getDevices(id, kDeviceTypeAll, 0, nullptr, &devices);
    if (status == 0) p.devices = devices;
    else if (status != kDeviceNotFound) p.deviceError = status;
    p.deviceList = listDevices(getDevices, getDeviceInfo, id, p.devices);
    facts.platforms.push_back(std::move(p));
  }
  return facts;
}

Napi::Value libraryProbeValue(Napi::Env env, LibraryProbe& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("loaded", r.loaded);
  if (!r.path.empty()) out.Set("path", r.path);
  if (!r.error.empty()) out.Set("error", r.error);
  return out;
}

Napi::Value openClFactsValue(Napi::Env env, OpenClFacts& facts) {
  Napi::Object out = Napi::Object::New(env);
  if (!facts.error.empty()) out.Set("error", facts.error);
  out.Set("platformError", facts.platformError);
  Napi::Array platforms = Napi::Array::New(env, facts.platforms.size());
  for (size_t i = 0; i < facts.platforms.size(); i++) {
    const PlatformFacts& p = facts.platforms[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p.name);
    o.Set("vendor", p.vendor);
    o.Set("version", p.version);
    o.Set("devices", p.devices);
    if (p.deviceError != 0) o.Set("deviceError", p.deviceError);
    Napi::Array list = Napi::Array::New(env, p.deviceList.size());
    for (size_t k = 0; k < p.deviceList.size(); k++) {
      const DeviceFacts& d = p.deviceList[k];
      Napi::Object dev = Napi::Object::New(env);
      // The type bits fit a double exactly (they are below 2^32).
      dev.Set("type", static_cast<double>(d.type & 0xffffffffu));
      dev.Set("name", d.name);
      dev.Set("vendor", d.vendor);
      dev.Set("version", d.version);
      dev.Set("driverVersion", d.driverVersion);
      dev.Set("extensions", d.extensions);
      list.Set(static_cast<uint32_t>(k), dev);
    }
    o.Set("deviceList", list);
    platforms.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("platforms", platforms);
  return out;
}

std::string stringArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsString()) throwType(info.Env(), std::string(fn) + ": the library name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.find('\0') != std::string::npos) throwType(info.Env(), std::string(fn) + ": the library name must be a non-empty string without NUL");
  return name;
}

Napi::Value ProbeSharedLibrary(const Napi::CallbackInfo& info) {
  std::string name = stringArg(info, "probeSharedLibrary");
  return PoolTask<LibraryProbe>::run(info.Env(), [name] { return probeOpen(name); }, libraryProbeValue);
}

Napi::Value ProbeOpenClPlatforms(const Napi::CallbackInfo& info) {
  std::string loader = stringArg(info, "probeOpenClPlatforms");
  return PoolTask<OpenClFacts>::run(info.Env(), [loader] { return probeOpenCl(loader); }, openClFactsValue);
}

}  // namespace

void registerSystemProbes(Napi::Env env, Napi::Object exports) {
  exports.Set("probeSharedLibrary", Napi::Function::New(env, ProbeSharedLibrary, "probeSharedLibrary"));
  exports.Set("probeOpenClPlatforms", Napi::Function::New(env, ProbeOpenClPlatforms, "probeOpenClPlatforms"));
}

}  // namespace sdmali
