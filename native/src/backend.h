// The one internal interface over a TVM runtime ABI. Each ABI (legacy <= v0.20, tvm-ffi
// >= v0.22) is one implementation, chosen when the library is opened by the symbols it
// exports. Every method runs on the runtime's worker thread (see worker.h): TVM keeps its
// last error and its OpenCL state per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sdmali {

// An error from the runtime. The legacy ABI only has a message (traceback included);
// tvm-ffi errors are objects with a kind ("ValueError", ...), a message and a backtrace.
// Converts from and to a plain message, so code that only deals in text stays as it is.
struct Failure {
  std::string message;
  std::string kind;
  std::string backtrace;
  Failure(std::string text) : message(std::move(text)) {}  // NOLINT: implicit on purpose
  Failure(const char* text) : message(text) {}             // NOLINT: implicit on purpose
  Failure(std::string kindName, std::string text, std::string trace)
      : message(std::move(text)), kind(std::move(kindName)), backtrace(std::move(trace)) {}
  operator const std::string&() const { return message; }  // NOLINT: implicit on purpose
};

// Empty optional = success.
using Status = std::optional<Failure>;

struct DType {
  uint8_t code = 0;  // DLPack codes: 0 int, 1 uint, 2 float, 4 bfloat
  uint8_t bits = 0;
  uint16_t lanes = 1;
  size_t bytes() const { return (static_cast<size_t>(bits) * lanes + 7) / 8; }
  bool operator==(const DType& o) const {
    return code == o.code && bits == o.bits && lanes == o.lanes;
  }
};

struct DeviceId {
  int type = 1;
  int id = 0;
};

enum class HandleKind { NDArray, Module, Function, Object };

struct ArrayInfo {
  std::vector<int64_t> shape;
  DType dtype;
  DeviceId device;
  size_t nbytes = 0;
};

// A raw runtime handle, owned by whoever holds it until passed to Backend::release.
struct RawHandle {
  HandleKind kind;
  void* ptr = nullptr;
};

class NativeHandle;  // core.h
using HandleRef = std::shared_ptr<NativeHandle>;

struct Bytes {
  std::vector<uint8_t> data;
};

// A call argument, already converted from JavaScript on the main thread.
using Arg = std::variant<std::monostate, int64_t, double, bool, std::string, Bytes, DeviceId,
                         DType, HandleRef>;

// A call result, converted to JavaScript on the main thread. Handles are owned.
struct Ret {
  std::variant<std::monostate, int64_t, double, bool, std::string, Bytes, DeviceId, DType,
               RawHandle>
      value;
  ArrayInfo array;      // filled when value holds an NDArray handle
  std::string typeKey;  // filled when value holds an Object handle
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* abi() const = 0;

  virtual Status loadModule(const std::string& path, const std::string& format, RawHandle* out) = 0;
  // *out.ptr stays null when the function does not exist.
  virtual Status getFunction(void* module, const std::string& name, bool queryImports,
                             RawHandle* out) = 0;
  virtual Status getGlobal(const std::string& name, RawHandle* out) = 0;
  virtual Status listGlobalNames(std::vector<std::string>* out) = 0;
  virtual Status call(void* function, const std::vector<Arg>& args, Ret* out) = 0;

  virtual Status arrayAlloc(const std::vector<int64_t>& shape, DType dtype, DeviceId device,
                            RawHandle* out, ArrayInfo* info) = 0;
  virtual Status copyFromBytes(void* array, const void* data, size_t nbytes) = 0;
  virtual Status copyToBytes(void* array, void* data, size_t nbytes) = 0;
  // The address of an array's first byte when its memory is plain host memory (the CPU
  // device), so the weight loader can write weights in place instead of staging a copy.
  // Optional: *out = nullptr (the default) means "use copyFromBytes".
  virtual Status hostData(void* array, void** out) {
    *out = nullptr;
    return {};
  }
  virtual Status synchronize(DeviceId device) = 0;
  virtual Status objectTypeKey(void* object, std::string* out) = 0;
  virtual Status moduleTypeKey(void* module, std::string* out) = 0;
  virtual void release(RawHandle handle) noexcept = 0;

  // Readies a device before its first use (tvm-ffi: loads its companion library, e.g.
  // libtvm_runtime_opencl.so). The legacy runtime has every device built in.
  virtual Status prepareDevice(DeviceId /*device*/) { return {}; }
  // The ABI's own version where the library reports one ("" otherwise).
  virtual std::string abiVersion() const { return {}; }
};

}  // namespace sdmali
