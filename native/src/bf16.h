// bfloat16 -> float32 expansion, the hot loop of weight loading. Kept free of N-API so the
// bench's floor and the generated-code check can compile it alone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sdmali {

// dst[i] = the float32 whose upper 16 bits are the little-endian bfloat16 at src + 2 * i.
// `src` may have any alignment (records can start at odd offsets); dst and src must not
// overlap.
void expandBf16(const uint8_t* src, uint32_t* dst, size_t count) noexcept;

}  // namespace sdmali
