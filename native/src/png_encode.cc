// The CPU-heavy parts of PNG encoding (lib/image/png.ts), off the JavaScript thread:
//  - pngFilterRows: each row's filter chosen as libpng's heuristic does (the smallest sum
//    of the filtered bytes read as signed), on libuv's thread pool. In JavaScript this took
//    30-90 ms of the event loop for a 512x512 image (less once V8 had optimised it);
//  - crc32: PNG's chunk CRC, about 1 ms for a 1 MiB IDAT (the JavaScript loop: several).
// Deflate runs on the pool through node:zlib.
#include <napi.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "addon.h"
#include "pool_task.h"

namespace sdmali {
namespace {

inline uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

// Filters `height` rows of `stride` bytes (4 bytes a pixel) into (stride + 1) * height bytes:
// a filter-type byte, then the row filtered. Ties keep the lower filter type.
std::vector<uint8_t> filterRows(const std::vector<uint8_t>& rgba, size_t stride, size_t height) {
  std::vector<uint8_t> out((stride + 1) * height);
  std::array<std::vector<uint8_t>, 5> candidates;
  for (auto& c : candidates) c.resize(stride);
  const std::vector<uint8_t> zeros(stride, 0);
  for (size_t y = 0; y < height; y++) {
    const uint8_t* row = rgba.data() + y * stride;
    const uint8_t* up = y > 0 ? row - stride : zeros.data();
    for (size_t i = 0; i < stride; i++) {
      const int left = i >= 4 ? row[i - 4] : 0;
      const int above = up[i];
      const int upLeft = i >= 4 ? up[i - 4] : 0;
      const int v = row[i];
      candidates[0][i] = static_cast<uint8_t>(v);
      candidates[1][i] = static_cast<uint8_t>(v - left);
      candidates[2][i] = static_cast<uint8_t>(v - above);
      candidates[3][i] = static_cast<uint8_t>(v - ((left + above) >> 1));
      candidates[4][i] = static_cast<uint8_t>(v - paeth(left, above, upLeft));
    }
    size_t best = 0;
    uint64_t bestScore = UINT64_MAX;
    for (size_t type = 0; type < 5; type++) {
      uint64_t score = 0;
      for (uint8_t b : candidates[type]) score += b < 128 ? b : 256 - b;
      if (score < bestScore) {
        bestScore = score;
        best = type;
      }
    }
    uint8_t* dst = out.data() + y * (stride + 1);
    dst[0] = static_cast<uint8_t>(best);
    std::memcpy(dst + 1, candidates[best].data(), stride);
  }
  return out;
}

const std::array<uint32_t, 256>& crcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

// The bytes of a Uint8Array / Buffer argument, or a TypeError.
std::pair<const uint8_t*, size_t> bytesArg(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  if (info.Length() <= index || !info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwType(info.Env(), std::string(fn) + ": expected a Uint8Array");
  }
  auto array = info[index].As<Napi::Uint8Array>();
  return {array.Data(), array.ByteLength()};
}

uint32_t dimensionArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsNumber()) throwType(info.Env(), std::string("pngFilterRows: ") + what + " must be a number");
  const double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= 1 && v <= 65535) || v != static_cast<double>(static_cast<uint32_t>(v))) {
    throwRange(info.Env(), std::string("pngFilterRows: ") + what + " must be an integer from 1 to 65535");
  }
  return static_cast<uint32_t>(v);
}

// pngFilterRows(rgba: Uint8Array, width, height): Promise<Buffer>. The pixels are copied
// first (a memcpy, well under a millisecond), so the caller may change them meanwhile.
Napi::Value PngFilterRows(const Napi::CallbackInfo& info) {
  auto [data, length] = bytesArg(info, 0, "pngFilterRows");
  const uint32_t width = dimensionArg(info, 1, "width");
  const uint32_t height = dimensionArg(info, 2, "height");
  const size_t stride = static_cast<size_t>(width) * 4;
  if (length != stride * height) throwRange(info.Env(), "pngFilterRows: the pixels are not width * height * 4 bytes");
  auto pixels = std::make_shared<const std::vector<uint8_t>>(data, data + length);
  return PoolTask<std::vector<uint8_t>>::run(
      info.Env(), [pixels, stride, height] { return filterRows(*pixels, stride, height); },
      [](Napi::Env env, std::vector<uint8_t>& filtered) -> Napi::Value { return Napi::Buffer<uint8_t>::Copy(env, filtered.data(), filtered.size()); });
}

// crc32(bytes: Uint8Array): number, the CRC-32 of PNG chunks (ISO-HDLC), unsigned.
Napi::Value Crc32(const Napi::CallbackInfo& info) {
  auto [data, length] = bytesArg(info, 0, "crc32");
  const auto& table = crcTable();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return Napi::Number::New(info.Env(), static_cast<double>(c ^ 0xffffffffu));
}

}  // namespace

void registerImageExports(Napi::Env env, Napi::Object exports) {
  exports.Set("pngFilterRows", Napi::Function::New(env, PngFilterRows, "pngFilterRows"));
  exports.Set("crc32", Napi::Function::New(env, Crc32, "crc32"));
}

}  // namespace sdmali
