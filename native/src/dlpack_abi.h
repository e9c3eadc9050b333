// DLPack's tensor layout (dlpack.h, v0.x and v1.x alike for these three structs), shared by
// both TVM ABIs: the legacy C API and tvm-ffi hand the same DLTensor across. Declared here
// so that nothing of DLPack or TVM is needed to build; the layout must never be "tidied".
#pragma once

#include <cstdint>

namespace sdmali::dlpack {

struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};

struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};

struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};

}  // namespace sdmali::dlpack
