#include "program_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace sdmali {
namespace {

constexpr char kMagic[8] = {'S', 'D', 'M', 'C', 'L', 'B', 'N', '1'};
constexpr const char* kSuffix = ".clbin";

// magic, key, options length (u32), reserved (u32), binary length (u64), binary digest.
struct Header {
  char magic[8];
  uint8_t key[32];
  uint32_t optionsLength;
  uint32_t reserved;
  uint64_t binaryLength;
  uint8_t binaryDigest[32];
};
static_assert(sizeof(Header) == 88, "the entry header has a fixed layout");

bool readAll(int fd, void* out, size_t size) {
  auto p = static_cast<uint8_t*>(out);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool writeAll(int fd, const void* data, size_t size) {
  auto p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool makeDirs(const std::string& dir) {
  std::string path;
  for (size_t i = 0; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') {
      if (!path.empty() && ::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    if (i < dir.size()) path.push_back(dir[i]);
  }
  return true;
}

struct FileInfo {
  std::string path;
  uint64_t size;
  timespec mtime;
};

std::vector<FileInfo> listEntries(const std::string& dir) {
  std::vector<FileInfo> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= std::strlen(kSuffix) || name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) != 0) continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) out.push_back({path, static_cast<uint64_t>(st.st_size), st.st_mtim});
  }
  ::closedir(d);
  return out;
}

}  // namespace

void ProgramStore::configure(const std::string& dir, uint64_t maxBytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  dir_ = dir;
  maxBytes_ = maxBytes;
  knownBytes_ = 0;
  if (dir_.empty()) return;
  makeDirs(dir_);  // a failure shows as failed writes later; reads still work if it exists
  for (const FileInfo& f : listEntries(dir_)) knownBytes_ += f.size;
}

bool ProgramStore::enabled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !dir_.empty();
}

std::string ProgramStore::dir() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dir_;
}

std::string ProgramStore::pathOf(const Digest& key) const { return dir_ + "/" + toHex(key) + kSuffix; }

LoadOutcome ProgramStore::load(const Digest& key, ProgramEntry* out) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dir_.empty()) return LoadOutcome::Miss;
    path = pathOf(key);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return LoadOutcome::Miss;
  struct stat st {};
  Header h{};
  bool ok = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) >= sizeof h && readAll(fd, &h, sizeof h) &&
            std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && std::memcmp(h.key, key.data(), key.size()) == 0 &&
            static_cast<uint64_t>(st.st_size) == sizeof h + h.optionsLength + h.binaryLength && h.binaryLength > 0;
  if (ok) {
    out->options.resize(h.optionsLength);
    out->binary.resize(h.binaryLength);
    ok = readAll(fd, out->options.data(), h.optionsLength) && readAll(fd, out->binary.data(), h.binaryLength);
  }
  ::close(fd);
  if (ok) {
    Sha256 digest;
    digest.update(out->binary.data(), out->binary.size());
    ok = digest.finish() == *reinterpret_cast<const Digest*>(h.binaryDigest);
  }
  if (!ok) {
    ::unlink(path.c_str());
    return LoadOutcome::Corrupt;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // most recently used, for eviction
  return LoadOutcome::Hit;
}

bool ProgramStore::store(const Digest& key, const std::string& options, const uint8_t* binary, size_t size) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (dir_.empty()) return false;
    path = pathOf(key);
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  std::memcpy(h.key, key.data(), key.size());
  h.optionsLength = static_cast<uint32_t>(options.size());
  h.binaryLength = size;
  Sha256 digest;
  digest.update(binary, size);
  Digest d = digest.finish();
  std::memcpy(h.binaryDigest, d.data(), d.size());

  // A name no other writer uses, then rename: readers see a whole entry or none, and two
  // processes filling the cache at once both end with a valid file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = writeAll(fd, &h, sizeof h) && writeAll(fd, options.data(), options.size()) && writeAll(fd, binary, size);
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    knownBytes_ += sizeof h + options.size() + size;
  }
  evictIfNeeded();
  return true;
}

void ProgramStore::remove(const Digest& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!dir_.empty()) ::unlink(pathOf(key).c_str());
}

void ProgramStore::evictIfNeeded() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (maxBytes_ == 0 || knownBytes_ <= maxBytes_) return;
  std::vector<FileInfo> files = listEntries(dir_);
  std::sort(files.begin(), files.end(), [](const FileInfo& a, const FileInfo& b) {
    return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec : a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  uint64_t total = 0;
  for (const FileInfo& f : files) total += f.size;
  // Down to 90% of the cap, so the next writes do not each trigger a scan.
  const uint64_t target = maxBytes_ / 10 * 9;
  for (const FileInfo& f : files) {
    if (total <= target) break;
    if (::unlink(f.path.c_str()) == 0) total -= f.size;
  }
  knownBytes_ = total;
}

}  // namespace sdmali
