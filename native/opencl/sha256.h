// SHA-256 (FIPS 180-4), for cache keys and entry checksums: a program's source decides
// which binary is used, so a collision must be out of the question.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sdmali {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(const std::string& s) { update(s.data(), s.size()); }
  Digest finish();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

std::string toHex(const Digest& d);

}  // namespace sdmali
