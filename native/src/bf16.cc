#include "bf16.h"

#include <cstring>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "expandBf16 reads the little-endian bfloat16 of TVM's shards with host-order loads"
#endif

namespace sdmali {

void expandBf16(const uint8_t* __restrict src, uint32_t* __restrict dst, size_t count) noexcept {
  // Fixed-size blocks give the inner loop a trip count known at compile time, which GCC
  // vectorises even at -O2 (its "very cheap" cost model refuses loops that need a runtime
  // epilogue); memcpy is the portable unaligned 16-bit load and compiles to a plain load.
  constexpr size_t kBlock = 32;
  size_t i = 0;
  for (; i + kBlock <= count; i += kBlock) {
    const uint8_t* s = src + 2 * i;
    uint32_t* d = dst + i;
    for (size_t j = 0; j < kBlock; ++j) {
      uint16_t h;
      std::memcpy(&h, s + 2 * j, sizeof h);
      d[j] = static_cast<uint32_t>(h) << 16;
    }
  }
  for (; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, sizeof h);
    dst[i] = static_cast<uint32_t>(h) << 16;
  }
}

}  // namespace sdmali
