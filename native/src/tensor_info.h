// What both backends report of a DLTensor (shape, dtype, device, byte size): the legacy
// ABI and tvm-ffi hand the same DLPack layout across.
#pragma once

#include "backend.h"
#include "dlpack_abi.h"

namespace sdmali {

inline ArrayInfo infoOf(const dlpack::DLTensor* t) {
  ArrayInfo info;
  info.shape.assign(t->shape, t->shape + t->ndim);
  info.dtype = DType{t->dtype.code, t->dtype.bits, t->dtype.lanes};
  info.device = DeviceId{t->device.device_type, t->device.device_id};
  size_t n = 1;
  for (int64_t d : info.shape) n *= static_cast<size_t>(d);
  info.nbytes = n * info.dtype.bytes();
  return info;
}

}  // namespace sdmali
