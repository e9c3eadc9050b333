#include "legacy_backend.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "core.h"
#include "legacy_abi.h"
#include "tensor_info.h"

namespace sdmali {
namespace {

using namespace legacy;

struct Api {
  FnGetLastError getLastError;
  FnModLoadFromFile modLoadFromFile;
  FnModGetFunction modGetFunction;
  FnModFree modFree;
  FnFuncFree funcFree;
  FnFuncCall funcCall;
  FnFuncGetGlobal funcGetGlobal;
  FnFuncListGlobalNames funcListGlobalNames;
  FnArrayAlloc arrayAlloc;
  FnArrayFree arrayFree;
  FnArrayCopyFromBytes arrayCopyFromBytes;
  FnArrayCopyToBytes arrayCopyToBytes;
  FnSynchronize synchronize;
  FnObjectGetTypeIndex objectGetTypeIndex;
  FnObjectTypeIndex2Key objectTypeIndex2Key;
  FnObjectFree objectFree;
};

class LegacyBackend final : public Backend {
 public:
  explicit LegacyBackend(Api api) : api_(api) {}
  const char* abi() const override { return "legacy"; }

  Status loadModule(const std::string& path, const std::string& format, RawHandle* out) override {
    void* mod = nullptr;
    if (api_.modLoadFromFile(path.c_str(), format.c_str(), &mod) != 0) return lastError();
    *out = RawHandle{HandleKind::Module, mod};
    return {};
  }

  Status getFunction(void* module, const std::string& name, bool queryImports,
                     RawHandle* out) override {
    void* fn = nullptr;
    if (api_.modGetFunction(module, name.c_str(), queryImports ? 1 : 0, &fn) != 0)
      return lastError();
    *out = RawHandle{HandleKind::Function, fn};
    return {};
  }

  Status getGlobal(const std::string& name, RawHandle* out) override {
    void* fn = nullptr;
    if (api_.funcGetGlobal(name.c_str(), &fn) != 0) return lastError();
    *out = RawHandle{HandleKind::Function, fn};
    return {};
  }

  Status listGlobalNames(std::vector<std::string>* out) override {
    int n = 0;
    const char** names = nullptr;
    if (api_.funcListGlobalNames(&n, &names) != 0) return lastError();
    out->assign(names, names + n);
    return {};
  }

  Status call(void* function, const std::vector<Arg>& args, Ret* out) override {
    const size_t n = args.size();
    std::vector<TVMValue> values(n);
    std::vector<int> codes(n);
    std::vector<TVMByteArray> byteArrays(n);
    for (size_t i = 0; i < n; ++i) encode(args[i], &values[i], &codes[i], &byteArrays[i]);
    TVMValue rv{};
    int rcode = kNullptr;
    if (api_.funcCall(function, values.data(), codes.data(), static_cast<int>(n), &rv, &rcode) != 0)
      return lastError();
    return decode(rv, rcode, out);
  }

  Status arrayAlloc(const std::vector<int64_t>& shape, DType dtype, DeviceId device,
                    RawHandle* out, ArrayInfo* info) override {
    DLTensor* t = nullptr;
    if (api_.arrayAlloc(shape.data(), static_cast<int>(shape.size()), dtype.code, dtype.bits,
                        dtype.lanes, device.type, device.id, &t) != 0)
      return lastError();
    *out = RawHandle{HandleKind::NDArray, t};
    *info = infoOf(t);
    return {};
  }

  Status copyFromBytes(void* array, const void* data, size_t nbytes) override {
    if (api_.arrayCopyFromBytes(static_cast<DLTensor*>(array), const_cast<void*>(data), nbytes) != 0)
      return lastError();
    return {};
  }

  Status hostData(void* array, void** out) override {
    auto* t = static_cast<DLTensor*>(array);
    *out = t->device.device_type == 1 /* kDLCPU */ ? static_cast<char*>(t->data) + t->byte_offset : nullptr;
    return {};
  }

  Status copyToBytes(void* array, void* data, size_t nbytes) override {
    if (api_.arrayCopyToBytes(static_cast<DLTensor*>(array), data, nbytes) != 0) return lastError();
    return {};
  }

  Status synchronize(DeviceId device) override {
    if (api_.synchronize(device.type, device.id, nullptr) != 0) return lastError();
    return {};
  }

  Status objectTypeKey(void* object, std::string* out) override {
    unsigned index = 0;
    if (api_.objectGetTypeIndex(object, &index) != 0) return lastError();
    char* key = nullptr;
    if (api_.objectTypeIndex2Key(index, &key) != 0) return lastError();
    *out = key;
    std::free(key);  // the runtime allocates it with malloc
    return {};
  }

  Status moduleTypeKey(void* module, std::string* out) override {
    RawHandle fn;
    if (auto err = getGlobal("runtime.ModuleGetTypeKey", &fn)) return err;
    if (fn.ptr == nullptr) return std::string("runtime.ModuleGetTypeKey is not registered");
    TVMValue arg;
    arg.v_handle = module;
    int code = kModuleHandle;
    TVMValue rv{};
    int rcode = kNullptr;
    Status err;
    if (api_.funcCall(fn.ptr, &arg, &code, 1, &rv, &rcode) != 0) {
      err = lastError();
    } else if (rcode == kStr) {
      *out = rv.v_str;
    } else {
      err = std::string("runtime.ModuleGetTypeKey returned no string");
    }
    api_.funcFree(fn.ptr);
    return err;
  }

  void release(RawHandle h) noexcept override {
    if (h.ptr == nullptr) return;
    switch (h.kind) {
      case HandleKind::NDArray: api_.arrayFree(static_cast<DLTensor*>(h.ptr)); break;
      case HandleKind::Module: api_.modFree(h.ptr); break;
      case HandleKind::Function: api_.funcFree(h.ptr); break;
      case HandleKind::Object: api_.objectFree(h.ptr); break;
    }
  }

 private:
  Status lastError() const {
    const char* msg = api_.getLastError();
    return std::string(msg != nullptr && *msg != '\0' ? msg : "unknown TVM error");
  }

  static void encode(const Arg& arg, TVMValue* v, int* code, TVMByteArray* bytes) {
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            v->v_handle = nullptr;
            *code = kNullptr;
          } else if constexpr (std::is_same_v<T, int64_t>) {
            v->v_int64 = a;
            *code = kInt;
          } else if constexpr (std::is_same_v<T, double>) {
            v->v_float64 = a;
            *code = kFloat;
          } else if constexpr (std::is_same_v<T, bool>) {
            v->v_int64 = a ? 1 : 0;
            *code = kArgBool;
          } else if constexpr (std::is_same_v<T, std::string>) {
            v->v_str = a.c_str();
            *code = kStr;
          } else if constexpr (std::is_same_v<T, Bytes>) {
            bytes->data = reinterpret_cast<const char*>(a.data.data());
            bytes->size = a.data.size();
            v->v_handle = bytes;
            *code = kBytes;
          } else if constexpr (std::is_same_v<T, DeviceId>) {
            v->v_device = DLDevice{a.type, a.id};
            *code = kDevice;
          } else if constexpr (std::is_same_v<T, DType>) {
            v->v_type = DLDataType{a.code, a.bits, a.lanes};
            *code = kDataType;
          } else {
            static_assert(std::is_same_v<T, HandleRef>);
            v->v_handle = a->ptr();
            switch (a->kind()) {
              case HandleKind::NDArray: *code = kNDArrayHandle; break;
              case HandleKind::Module: *code = kModuleHandle; break;
              case HandleKind::Function: *code = kPackedFuncHandle; break;
              case HandleKind::Object: *code = kObjectHandle; break;
            }
          }
        },
        arg);
  }

  Status decode(const TVMValue& v, int code, Ret* out) {
    switch (code) {
      case kNullptr: out->value = std::monostate{}; return {};
      case kInt:
      case kUInt: out->value = v.v_int64; return {};
      case kFloat: out->value = v.v_float64; return {};
      case kArgBool: out->value = v.v_int64 != 0; return {};
      case kStr: out->value = std::string(v.v_str != nullptr ? v.v_str : ""); return {};
      case kBytes: {
        const auto* b = static_cast<const TVMByteArray*>(v.v_handle);
        Bytes bytes;
        bytes.data.assign(reinterpret_cast<const uint8_t*>(b->data),
                          reinterpret_cast<const uint8_t*>(b->data) + b->size);
        out->value = std::move(bytes);
        return {};
      }
      case kDataType:
        out->value = DType{v.v_type.code, v.v_type.bits, v.v_type.lanes};
        return {};
      case kDevice: out->value = DeviceId{v.v_device.device_type, v.v_device.device_id}; return {};
      case kNDArrayHandle:
        out->array = infoOf(static_cast<DLTensor*>(v.v_handle));
        out->value = RawHandle{HandleKind::NDArray, v.v_handle};
        return {};
      case kModuleHandle: out->value = RawHandle{HandleKind::Module, v.v_handle}; return {};
      case kPackedFuncHandle: out->value = RawHandle{HandleKind::Function, v.v_handle}; return {};
      case kObjectHandle: return decodeObject(v.v_handle, out);
      default:
        return "the function returned a value of TVM type code " + std::to_string(code) +
               ", which sd-mali cannot represent";
    }
  }

  // runtime.String objects become JavaScript strings, as in TVM's Python package.
  Status decodeObject(void* obj, Ret* out) {
    std::string key;
    if (auto err = objectTypeKey(obj, &key)) {
      api_.objectFree(obj);
      return err;
    }
    if (key == "runtime.String") {
      RawHandle getString;
      Status err = getGlobal("runtime.GetFFIString", &getString);
      if (!err && getString.ptr != nullptr) {
        TVMValue arg;
        arg.v_handle = obj;
        int argCode = kObjectHandle;
        TVMValue rv{};
        int rcode = kNullptr;
        if (api_.funcCall(getString.ptr, &arg, &argCode, 1, &rv, &rcode) != 0) {
          err = lastError();
        } else if (rcode == kStr) {
          out->value = std::string(rv.v_str);
        } else {
          err = std::string("runtime.GetFFIString returned no string");
        }
        api_.funcFree(getString.ptr);
      }
      api_.objectFree(obj);
      return err;
    }
    out->typeKey = std::move(key);
    out->value = RawHandle{HandleKind::Object, obj};
    return {};
  }

  Api api_;
};

}  // namespace

std::unique_ptr<Backend> makeLegacyBackend(void* library, std::string* missing) {
  Api api{};
  auto resolve = [&](auto& slot, const char* name) {
    void* sym = dlsym(library, name);
    if (sym == nullptr && missing->empty()) *missing = name;
    slot = reinterpret_cast<std::decay_t<decltype(slot)>>(sym);
  };
  resolve(api.getLastError, "TVMGetLastError");
  resolve(api.modLoadFromFile, "TVMModLoadFromFile");
  resolve(api.modGetFunction, "TVMModGetFunction");
  resolve(api.modFree, "TVMModFree");
  resolve(api.funcFree, "TVMFuncFree");
  resolve(api.funcCall, "TVMFuncCall");
  resolve(api.funcGetGlobal, "TVMFuncGetGlobal");
  resolve(api.funcListGlobalNames, "TVMFuncListGlobalNames");
  resolve(api.arrayAlloc, "TVMArrayAlloc");
  resolve(api.arrayFree, "TVMArrayFree");
  resolve(api.arrayCopyFromBytes, "TVMArrayCopyFromBytes");
  resolve(api.arrayCopyToBytes, "TVMArrayCopyToBytes");
  resolve(api.synchronize, "TVMSynchronize");
  resolve(api.objectGetTypeIndex, "TVMObjectGetTypeIndex");
  resolve(api.objectTypeIndex2Key, "TVMObjectTypeIndex2Key");
  resolve(api.objectFree, "TVMObjectFree");
  if (!missing->empty()) return nullptr;
  return std::make_unique<LegacyBackend>(api);
}

}  // namespace sdmali
