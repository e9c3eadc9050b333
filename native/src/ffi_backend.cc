#include "ffi_backend.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>
#include <map>
#include <set>

#include "core.h"
#include "ffi_abi.h"
#include "tensor_info.h"

namespace sdmali {
namespace {

using namespace ffi;

struct Api {
  FnFunctionGetGlobal functionGetGlobal;
  FnFunctionCall functionCall;
  FnObjectIncRef objectIncRef;
  FnObjectDecRef objectDecRef;
  FnErrorMoveFromRaised errorMoveFromRaised;
  FnGetTypeInfo getTypeInfo;
  FnGetVersion getVersion;
  FnStringFromByteArray stringFromByteArray;
};

// The object's cell: its fields right after the 24-byte header.
template <typename T>
T* cellOf(void* obj) {
  return reinterpret_cast<T*>(static_cast<char*>(obj) + sizeof(TVMFFIObject));
}

int32_t typeIndexOf(void* obj) { return static_cast<TVMFFIObject*>(obj)->type_index; }

std::string textOf(const TVMFFIByteArray& b) { return std::string(b.data != nullptr ? b.data : "", b.size); }

TVMFFIAny none() {
  TVMFFIAny a{};
  a.type_index = kNone;
  return a;
}
TVMFFIAny ofInt(int64_t v) {
  TVMFFIAny a{};
  a.type_index = kInt;
  a.v_int64 = v;
  return a;
}
TVMFFIAny ofObject(void* obj) {
  TVMFFIAny a{};
  a.type_index = typeIndexOf(obj);
  a.v_obj = static_cast<TVMFFIObject*>(obj);
  return a;
}
TVMFFIAny ofPtr(void* p) {
  TVMFFIAny a{};
  a.type_index = p == nullptr ? kNone : kOpaquePtr;
  a.v_ptr = p;
  return a;
}
TVMFFIAny ofStr(const char* s) {
  TVMFFIAny a{};
  a.type_index = kRawStr;
  a.v_c_str = s;
  return a;
}
TVMFFIAny ofDevice(DeviceId d) {
  TVMFFIAny a{};
  a.type_index = kDevice;
  a.v_device = DLDevice{d.type, d.id};
  return a;
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The runtime's per-device libraries, built beside libtvm_runtime.so when TVM is
// configured with that device: loading one registers its device API and module loader.
struct Companion {
  int deviceType;
  const char* moduleKind;
  const char* file;
};
constexpr Companion kCompanions[] = {
    {4, "opencl", "libtvm_runtime_opencl.so"},  {2, "cuda", "libtvm_runtime_cuda.so"},
    {7, "vulkan", "libtvm_runtime_vulkan.so"},  {8, "metal", "libtvm_runtime_metal.so"},
    {10, "rocm", "libtvm_runtime_rocm.so"},
};

class FfiBackend final : public Backend {
 public:
  FfiBackend(Api api, std::string runtimeDir) : api_(api), runtimeDir_(std::move(runtimeDir)) {}
  const char* abi() const override { return "tvm-ffi"; }

  std::string abiVersion() const override {
    if (api_.getVersion == nullptr) return {};
    TVMFFIVersion v{};
    api_.getVersion(&v);
    return std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
  }

  Status loadModule(const std::string& path, const std::string& /*format: told by the file*/,
                    RawHandle* out) override {
    TVMFFIAny arg = ofStr(path.c_str());
    TVMFFIAny rv = none();
    Status err = callGlobal("ffi.ModuleLoadFromFile", &arg, 1, &rv);
    // A library whose embedded modules need a device's loader (opencl, ...) names it;
    // load that device's companion library and try once more.
    if (err) {
      std::string kind = missingLoaderKind(err->message);
      if (kind.empty()) return err;
      if (auto companionErr = loadCompanionForModuleKind(kind)) return companionErr;
      rv = none();
      err = callGlobal("ffi.ModuleLoadFromFile", &arg, 1, &rv);
      if (err) return err;
    }
    if (rv.type_index < kStaticObjectBegin || !isInstance(rv.type_index, kModule)) {
      releaseAny(rv);
      return std::string("ffi.ModuleLoadFromFile returned no module for ") + path;
    }
    *out = RawHandle{HandleKind::Module, rv.v_obj};
    return {};
  }

  Status getFunction(void* module, const std::string& name, bool queryImports,
                     RawHandle* out) override {
    TVMFFIAny args[3] = {ofObject(module), ofStr(name.c_str()), {}};
    args[2].type_index = kBool;
    args[2].v_int64 = queryImports ? 1 : 0;
    TVMFFIAny rv = none();
    if (auto err = callGlobal("ffi.ModuleGetFunction", args, 3, &rv)) return err;
    return takeFunction(rv, "ffi.ModuleGetFunction", out);
  }

  Status getGlobal(const std::string& name, RawHandle* out) override {
    TVMFFIByteArray bytes{name.data(), name.size()};
    void* fn = nullptr;
    if (api_.functionGetGlobal(&bytes, &fn) != 0) return lastError();
    *out = RawHandle{HandleKind::Function, fn};
    return {};
  }

  Status listGlobalNames(std::vector<std::string>* out) override {
    // Returns a functor: f(-1) is the count, f(i) the i-th name.
    TVMFFIAny functor = none();
    if (auto err = callGlobal("ffi.FunctionListGlobalNamesFunctor", nullptr, 0, &functor)) return err;
    if (functor.type_index != kFunction) {
      releaseAny(functor);
      return std::string("ffi.FunctionListGlobalNamesFunctor returned no function");
    }
    Status err = [&]() -> Status {
      TVMFFIAny arg = ofInt(-1);
      TVMFFIAny count = none();
      if (api_.functionCall(functor.v_obj, &arg, 1, &count) != 0) return lastError();
      if (count.type_index != kInt) return std::string("the global name list has no size");
      for (int64_t i = 0; i < count.v_int64; ++i) {
        arg = ofInt(i);
        TVMFFIAny name = none();
        if (api_.functionCall(functor.v_obj, &arg, 1, &name) != 0) return lastError();
        std::string text;
        bool isText = stringOf(name, &text);
        releaseAny(name);
        if (!isText) return std::string("the global name list holds a non-string");
        out->push_back(std::move(text));
      }
      return {};
    }();
    releaseAny(functor);
    return err;
  }

  Status call(void* function, const std::vector<Arg>& args, Ret* out) override {
    // A device argument is a first use of that device, as an allocation is.
    for (const Arg& a : args) {
      if (const auto* device = std::get_if<DeviceId>(&a)) {
        if (auto err = prepareDevice(*device)) return err;
      }
    }
    const size_t n = args.size();
    std::vector<TVMFFIAny> values(n);
    std::vector<TVMFFIByteArray> byteArrays(n);
    std::vector<TVMFFIAny> temporaries;  // String objects made for text with NUL bytes
    Status err;
    for (size_t i = 0; i < n && !err; ++i) err = encode(args[i], &values[i], &byteArrays[i], &temporaries);
    TVMFFIAny rv = none();
    if (!err && api_.functionCall(function, values.data(), static_cast<int32_t>(n), &rv) != 0) err = lastError();
    for (TVMFFIAny& t : temporaries) releaseAny(t);
    if (err) return err;
    return decode(rv, out);
  }

  Status arrayAlloc(const std::vector<int64_t>& shape, DType dtype, DeviceId device,
                    RawHandle* out, ArrayInfo* info) override {
    if (auto err = prepareDevice(device)) return err;
    std::vector<TVMFFIAny> dims;
    dims.reserve(shape.size());
    for (int64_t d : shape) dims.push_back(ofInt(d));
    TVMFFIAny shapeObj = none();
    if (auto err = callGlobal("ffi.Shape", dims.data(), static_cast<int32_t>(dims.size()), &shapeObj)) return err;
    TVMFFIAny args[4] = {shapeObj, {}, ofDevice(device), none()};
    args[1].type_index = kDataType;
    args[1].v_dtype = DLDataType{dtype.code, dtype.bits, dtype.lanes};
    TVMFFIAny rv = none();
    Status err = callGlobal("runtime.TVMTensorAllocWithScope", args, 4, &rv);
    releaseAny(shapeObj);
    if (err) return err;
    if (rv.type_index < kStaticObjectBegin || !isInstance(rv.type_index, kTensor)) {
      releaseAny(rv);
      return std::string("runtime.TVMTensorAllocWithScope returned no tensor");
    }
    *out = RawHandle{HandleKind::NDArray, rv.v_obj};
    *info = infoOf(cellOf<DLTensor>(rv.v_obj));
    return {};
  }

  Status copyFromBytes(void* array, const void* data, size_t nbytes) override {
    TVMFFIAny args[3] = {ofObject(array), ofPtr(const_cast<void*>(data)), ofInt(static_cast<int64_t>(nbytes))};
    TVMFFIAny rv = none();
    Status err = callGlobal("runtime.TVMTensorCopyFromBytes", args, 3, &rv);
    releaseAny(rv);
    return err;
  }

  // A Tensor's DLTensor sits after its object header; CPU memory can be written in place
  // (the weight loader then needs no staging copy).
  Status hostData(void* array, void** out) override {
    const DLTensor* t = cellOf<DLTensor>(array);
    *out = t->device.device_type == 1 /* kDLCPU */ ? static_cast<char*>(t->data) + t->byte_offset : nullptr;
    return {};
  }

  Status copyToBytes(void* array, void* data, size_t nbytes) override {
    TVMFFIAny args[3] = {ofObject(array), ofPtr(data), ofInt(static_cast<int64_t>(nbytes))};
    TVMFFIAny rv = none();
    Status err = callGlobal("runtime.TVMTensorCopyToBytes", args, 3, &rv);
    releaseAny(rv);
    return err;
  }

  Status synchronize(DeviceId device) override {
    if (auto err = prepareDevice(device)) return err;
    TVMFFIAny args[2] = {ofDevice(device), ofInt(0)};  // stream 0: the device's default stream
    TVMFFIAny rv = none();
    Status err = callGlobal("runtime.Device_StreamSync", args, 2, &rv);
    releaseAny(rv);
    return err;
  }

  Status objectTypeKey(void* object, std::string* out) override {
    *out = typeKeyOf(typeIndexOf(object));
    return {};
  }

  Status moduleTypeKey(void* module, std::string* out) override {
    TVMFFIAny arg = ofObject(module);
    TVMFFIAny rv = none();
    if (auto err = callGlobal("ffi.ModuleGetKind", &arg, 1, &rv)) return err;
    bool isText = stringOf(rv, out);
    releaseAny(rv);
    if (!isText) return std::string("ffi.ModuleGetKind returned no string");
    return {};
  }

  void release(RawHandle h) noexcept override {
    if (h.ptr != nullptr) api_.objectDecRef(h.ptr);
  }

  Status prepareDevice(DeviceId device) override {
    for (const Companion& c : kCompanions) {
      if (c.deviceType == device.type) return loadCompanion(c);
    }
    return {};
  }

 private:
  // Calls a global function, looked up once and kept for the life of the process.
  Status callGlobal(const char* name, TVMFFIAny* args, int32_t n, TVMFFIAny* rv) {
    void* fn = nullptr;
    if (auto it = globals_.find(name); it != globals_.end()) {
      fn = it->second;
    } else {
      TVMFFIByteArray bytes{name, std::strlen(name)};
      if (api_.functionGetGlobal(&bytes, &fn) != 0) return lastError();
      if (fn == nullptr) {
        return std::string("the global function ") + name +
               " is not registered: the runtime library was built without it";
      }
      globals_[name] = fn;
    }
    if (api_.functionCall(fn, args, n, rv) != 0) return lastError();
    return {};
  }

  // The raised error of this thread as kind, message and backtrace.
  Status lastError() const {
    void* err = nullptr;
    api_.errorMoveFromRaised(&err);
    if (err == nullptr) return std::string("unknown TVM error (none was raised)");
    const auto* cell = cellOf<TVMFFIErrorCell>(err);
    std::string kind = textOf(cell->kind);
    std::string message = textOf(cell->message);
    std::string backtrace = textOf(cell->backtrace);
    api_.objectDecRef(err);
    return Failure(kind, kind.empty() ? message : kind + ": " + message, std::move(backtrace));
  }

  void releaseAny(const TVMFFIAny& v) const {
    if (v.type_index >= kStaticObjectBegin && v.v_obj != nullptr) api_.objectDecRef(v.v_obj);
  }

  bool isInstance(int32_t typeIndex, int32_t target) const {
    if (typeIndex == target) return true;
    if (api_.getTypeInfo == nullptr) return false;
    const TVMFFITypeInfo* info = api_.getTypeInfo(typeIndex);
    if (info == nullptr || info->type_ancestors == nullptr) return false;
    for (int32_t d = 0; d < info->type_depth; ++d) {
      if (info->type_ancestors[d] != nullptr && info->type_ancestors[d]->type_index == target) return true;
    }
    return false;
  }

  std::string typeKeyOf(int32_t typeIndex) const {
    const TVMFFITypeInfo* info = api_.getTypeInfo != nullptr ? api_.getTypeInfo(typeIndex) : nullptr;
    if (info == nullptr) return "object#" + std::to_string(typeIndex);
    return textOf(info->type_key);
  }

  // Text of a string value (small or object); false when it is not one.
  static bool stringOf(const TVMFFIAny& v, std::string* out) {
    if (v.type_index == kSmallStr) {
      *out = std::string(v.v_bytes, v.small_str_len);
      return true;
    }
    if (v.type_index == kStr) {
      *out = textOf(*cellOf<TVMFFIByteArray>(v.v_obj));
      return true;
    }
    return false;
  }

  Status takeFunction(const TVMFFIAny& rv, const char* from, RawHandle* out) {
    if (rv.type_index == kNone) {
      *out = RawHandle{HandleKind::Function, nullptr};
      return {};
    }
    if (rv.type_index < kStaticObjectBegin || !isInstance(rv.type_index, kFunction)) {
      releaseAny(rv);
      return std::string(from) + " returned no function";
    }
    *out = RawHandle{HandleKind::Function, rv.v_obj};
    return {};
  }

  Status encode(const Arg& arg, TVMFFIAny* v, TVMFFIByteArray* bytes, std::vector<TVMFFIAny>* temporaries) {
    *v = none();
    return std::visit(
        [&](const auto& a) -> Status {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            return {};
          } else if constexpr (std::is_same_v<T, int64_t>) {
            *v = ofInt(a);
          } else if constexpr (std::is_same_v<T, double>) {
            v->type_index = kFloat;
            v->v_float64 = a;
          } else if constexpr (std::is_same_v<T, bool>) {
            v->type_index = kBool;
            v->v_int64 = a ? 1 : 0;
          } else if constexpr (std::is_same_v<T, std::string>) {
            if (a.find('\0') == std::string::npos) {
              *v = ofStr(a.c_str());
            } else {
              // A C string would end at the first NUL: pass a sized String object.
              if (api_.stringFromByteArray == nullptr) return std::string("this runtime cannot take strings with NUL bytes");
              TVMFFIByteArray text{a.data(), a.size()};
              if (api_.stringFromByteArray(&text, v) != 0) return lastError();
              temporaries->push_back(*v);
            }
          } else if constexpr (std::is_same_v<T, Bytes>) {
            bytes->data = reinterpret_cast<const char*>(a.data.data());
            bytes->size = a.data.size();
            v->type_index = kByteArrayPtr;
            v->v_ptr = bytes;
          } else if constexpr (std::is_same_v<T, DeviceId>) {
            *v = ofDevice(a);
          } else if constexpr (std::is_same_v<T, DType>) {
            v->type_index = kDataType;
            v->v_dtype = DLDataType{a.code, a.bits, a.lanes};
          } else {
            static_assert(std::is_same_v<T, HandleRef>);
            *v = ofObject(a->ptr());
          }
          return {};
        },
        arg);
  }

  // Takes ownership of `v` (an owned Any): objects become handles, or are released.
  Status decode(const TVMFFIAny& v, Ret* out) {
    switch (v.type_index) {
      case kNone: out->value = std::monostate{}; return {};
      case kInt: out->value = v.v_int64; return {};
      case kBool: out->value = v.v_int64 != 0; return {};
      case kFloat: out->value = v.v_float64; return {};
      case kDataType: out->value = DType{v.v_dtype.code, v.v_dtype.bits, v.v_dtype.lanes}; return {};
      case kDevice: out->value = DeviceId{v.v_device.device_type, v.v_device.device_id}; return {};
      case kSmallStr: out->value = std::string(v.v_bytes, v.small_str_len); return {};
      case kSmallBytes: {
        Bytes b;
        b.data.assign(v.v_bytes, v.v_bytes + v.small_str_len);
        out->value = std::move(b);
        return {};
      }
      default: break;
    }
    if (v.type_index < kStaticObjectBegin) {
      return "the function returned a value of tvm-ffi type index " + std::to_string(v.type_index) +
             ", which sd-mali cannot represent";
    }
    void* obj = v.v_obj;
    const int32_t t = v.type_index;
    if (t == kStr) {
      out->value = textOf(*cellOf<TVMFFIByteArray>(obj));
      api_.objectDecRef(obj);
      return {};
    }
    if (t == kBytes) {
      const auto* b = cellOf<TVMFFIByteArray>(obj);
      Bytes bytes;
      bytes.data.assign(reinterpret_cast<const uint8_t*>(b->data), reinterpret_cast<const uint8_t*>(b->data) + b->size);
      out->value = std::move(bytes);
      api_.objectDecRef(obj);
      return {};
    }
    if (isInstance(t, kTensor)) {
      out->array = infoOf(cellOf<DLTensor>(obj));
      out->value = RawHandle{HandleKind::NDArray, obj};
      return {};
    }
    if (isInstance(t, kModule)) {
      out->value = RawHandle{HandleKind::Module, obj};
      return {};
    }
    if (isInstance(t, kFunction)) {
      out->value = RawHandle{HandleKind::Function, obj};
      return {};
    }
    out->typeKey = typeKeyOf(t);
    out->value = RawHandle{HandleKind::Object, obj};
    return {};
  }

  // "Library binary was created using {opencl} but a loader of that name is not registered"
  static std::string missingLoaderKind(const std::string& message) {
    if (message.find("loader of that name is not registered") == std::string::npos) return {};
    size_t open = message.find('{');
    size_t close = message.find('}', open == std::string::npos ? 0 : open);
    if (open == std::string::npos || close == std::string::npos) return {};
    return message.substr(open + 1, close - open - 1);
  }

  // Loads the companion for a module kind; an error when none is known or present.
  Status loadCompanionForModuleKind(const std::string& kind) {
    for (const Companion& c : kCompanions) {
      if (kind == c.moduleKind) {
        if (!fileExists(runtimeDir_ + "/" + c.file)) {
          return "the model needs TVM's " + kind + " runtime, but " + runtimeDir_ + "/" + c.file +
                 " does not exist: build TVM with USE_" + upper(kind) + "=ON and keep " + c.file +
                 " beside libtvm_runtime.so";
        }
        return loadCompanion(c);
      }
    }
    return "the model needs a TVM module loader for '" + kind + "', which this runtime does not have";
  }

  // Opens a companion library once. Absent is not an error here: the device then simply
  // does not exist for this runtime, as with a runtime built without it.
  Status loadCompanion(const Companion& c) {
    if (loaded_.count(c.file) != 0) return {};
    const std::string path = runtimeDir_ + "/" + c.file;
    if (!fileExists(path)) return {};
    dlerror();
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* e = dlerror();
      return "cannot load " + path + ": " + (e != nullptr ? e : "dlopen failed");
    }
    loaded_.insert(c.file);
    return {};
  }

  static std::string upper(std::string s) {
    for (char& ch : s) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    return s;
  }

  Api api_;
  std::string runtimeDir_;
  std::map<std::string, void*> globals_;  // owned for the life of the process
  std::set<std::string> loaded_;
};

}  // namespace

std::unique_ptr<Backend> makeFfiBackend(void* library, const std::string& runtimeDir, std::string* missing) {
  Api api{};
  auto resolve = [&](auto& slot, const char* name, bool required) {
    void* sym = dlsym(library, name);
    if (sym == nullptr && required && missing->empty()) *missing = name;
    slot = reinterpret_cast<std::decay_t<decltype(slot)>>(sym);
  };
  resolve(api.functionGetGlobal, "TVMFFIFunctionGetGlobal", true);
  resolve(api.functionCall, "TVMFFIFunctionCall", true);
  resolve(api.objectIncRef, "TVMFFIObjectIncRef", true);
  resolve(api.objectDecRef, "TVMFFIObjectDecRef", true);
  resolve(api.errorMoveFromRaised, "TVMFFIErrorMoveFromRaised", true);
  resolve(api.getTypeInfo, "TVMFFIGetTypeInfo", true);
  resolve(api.getVersion, "TVMFFIGetVersion", false);
  resolve(api.stringFromByteArray, "TVMFFIStringFromByteArray", false);
  if (!missing->empty()) return nullptr;
  return std::make_unique<FfiBackend>(api, runtimeDir);
}

}  // namespace sdmali
