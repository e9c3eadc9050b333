// Declarations of the tvm-ffi C ABI (TVM >= v0.22: include/tvm/ffi/c_api.h of apache/tvm-ffi,
// and DLPack) that the addon calls through function pointers resolved from libtvm_ffi.so.
// Only the layouts and constants the addon needs are declared; nothing of TVM is linked.
// The numbers are fixed by tvm-ffi's published ABI and must never be "tidied".
#pragma once

#include <cstddef>
#include <cstdint>

#include "dlpack_abi.h"

namespace sdmali::ffi {

using dlpack::DLDataType;
using dlpack::DLDevice;
using dlpack::DLTensor;

// The header of every object; the object's own fields ("cell") follow it.
struct TVMFFIObject {
  uint64_t combined_ref_count;
  int32_t type_index;
  uint32_t padding;
  void* deleter;
};
static_assert(sizeof(TVMFFIObject) == 24, "tvm-ffi object header is 24 bytes");

struct TVMFFIAny {
  int32_t type_index;
  uint32_t small_str_len;  // zero padding except for small strings / bytes
  union {
    int64_t v_int64;
    double v_float64;
    void* v_ptr;
    const char* v_c_str;
    TVMFFIObject* v_obj;
    DLDataType v_dtype;
    DLDevice v_device;
    char v_bytes[8];
  };
};
static_assert(sizeof(TVMFFIAny) == 16, "TVMFFIAny is 16 bytes");

struct TVMFFIByteArray {
  const char* data;
  size_t size;
};

// The cell of an Error object (after the header).
struct TVMFFIErrorCell {
  TVMFFIByteArray kind;
  TVMFFIByteArray message;
  TVMFFIByteArray backtrace;
};

struct TVMFFIVersion {
  uint32_t major;
  uint32_t minor;
  uint32_t patch;
};

struct TVMFFITypeInfo {
  int32_t type_index;
  int32_t type_depth;
  TVMFFIByteArray type_key;
  const TVMFFITypeInfo** type_ancestors;
  // Reflection fields follow; not used.
};

// TVMFFITypeIndex.
enum TypeIndex : int32_t {
  kNone = 0,
  kInt = 1,
  kBool = 2,
  kFloat = 3,
  kOpaquePtr = 4,
  kDataType = 5,
  kDevice = 6,
  kDLTensorPtr = 7,
  kRawStr = 8,
  kByteArrayPtr = 9,
  kObjectRValueRef = 10,
  kSmallStr = 11,
  kSmallBytes = 12,
  kStaticObjectBegin = 64,
  kObject = 64,
  kStr = 65,
  kBytes = 66,
  kError = 67,
  kFunction = 68,
  kShape = 69,
  kTensor = 70,
  kArray = 71,
  kMap = 72,
  kModule = 73,
};

using FnFunctionGetGlobal = int (*)(const TVMFFIByteArray* name, void** out);
using FnFunctionCall = int (*)(void* func, TVMFFIAny* args, int32_t num_args, TVMFFIAny* result);
using FnObjectIncRef = int (*)(void* obj);
using FnObjectDecRef = int (*)(void* obj);
using FnErrorMoveFromRaised = void (*)(void** result);
using FnGetTypeInfo = const TVMFFITypeInfo* (*)(int32_t type_index);
using FnGetVersion = void (*)(TVMFFIVersion* out);
using FnStringFromByteArray = int (*)(const TVMFFIByteArray* input, TVMFFIAny* out);

}  // namespace sdmali::ffi
