// Declarations of the legacy TVM C ABI (TVM <= v0.20: c_runtime_api.h and DLPack) that
// the addon calls through function pointers. Only the layout and the constants the addon
// needs are declared here; nothing of TVM is linked. The numbers are fixed by TVM's
// published ABI (static_asserts in its header) and must never be "tidied".
#pragma once

#include <cstddef>
#include <cstdint>

#include "dlpack_abi.h"

namespace sdmali::legacy {

using dlpack::DLDataType;
using dlpack::DLDevice;
using dlpack::DLTensor;

union TVMValue {
  int64_t v_int64;
  double v_float64;
  void* v_handle;
  const char* v_str;
  DLDataType v_type;
  DLDevice v_device;
};

struct TVMByteArray {
  const char* data;
  size_t size;
};

// Argument / return type codes.
enum TypeCode : int {
  kInt = 0,
  kUInt = 1,
  kFloat = 2,
  kOpaqueHandle = 3,
  kNullptr = 4,
  kDataType = 5,
  kDevice = 6,
  kDLTensorHandle = 7,
  kObjectHandle = 8,
  kModuleHandle = 9,
  kPackedFuncHandle = 10,
  kStr = 11,
  kBytes = 12,
  kNDArrayHandle = 13,
  kObjectRValueRefArg = 14,
  kArgBool = 15,
};

using FnGetLastError = const char* (*)();
using FnModLoadFromFile = int (*)(const char*, const char*, void**);
using FnModGetFunction = int (*)(void*, const char*, int, void**);
using FnModFree = int (*)(void*);
using FnFuncFree = int (*)(void*);
using FnFuncCall = int (*)(void*, TVMValue*, int*, int, TVMValue*, int*);
using FnFuncGetGlobal = int (*)(const char*, void**);
using FnFuncListGlobalNames = int (*)(int*, const char***);
using FnArrayAlloc = int (*)(const int64_t*, int, int, int, int, int, int, DLTensor**);
using FnArrayFree = int (*)(DLTensor*);
using FnArrayCopyFromBytes = int (*)(DLTensor*, void*, size_t);
using FnArrayCopyToBytes = int (*)(DLTensor*, void*, size_t);
using FnSynchronize = int (*)(int, int, void*);
using FnObjectGetTypeIndex = int (*)(void*, unsigned*);
using FnObjectTypeIndex2Key = int (*)(unsigned, char**);
using FnObjectFree = int (*)(void*);

}  // namespace sdmali::legacy
