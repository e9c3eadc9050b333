// The on-disk store of OpenCL program binaries: one file per key (the program's source,
// device and driver), written atomically, checked in full when read, evicted least
// recently used beyond a size cap. Anything wrong with an entry (short, corrupt, another
// key's) deletes it and reads as a miss: the caller then builds from source.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sha256.h"

namespace sdmali {

struct ProgramEntry {
  std::string options;  // the build options the binary was built with
  std::vector<uint8_t> binary;
};

enum class LoadOutcome { Miss, Hit, Corrupt };

class ProgramStore {
 public:
  // An empty dir turns the store off.
  void configure(const std::string& dir, uint64_t maxBytes);
  bool enabled() const;
  std::string dir() const;

  LoadOutcome load(const Digest& key, ProgramEntry* out);
  // false when it could not be written (read-only directory, full disk): not an error.
  bool store(const Digest& key, const std::string& options, const uint8_t* binary, size_t size);
  void remove(const Digest& key);

 private:
  std::string pathOf(const Digest& key) const;
  void evictIfNeeded();

  mutable std::mutex mutex_;
  std::string dir_;
  uint64_t maxBytes_ = 0;
  uint64_t knownBytes_ = 0;  // sum of entry sizes, from a scan at configure plus our writes
};

}  // namespace sdmali
