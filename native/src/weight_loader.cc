#include "weight_loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "async_task.h"
#include "bf16.h"
#include "convert.h"
#include "dtype.h"

namespace sdmali {
namespace {

constexpr int kCpuDeviceType = 1;  // DLPack kDLCPU
// bfloat16 bytes read per pread: small enough to stay in L2 while they are expanded.
constexpr size_t kChunkBytes = size_t{1} << 20;
// Arrays this large get MADV_HUGEPAGE before their first write: 512x fewer page faults.
constexpr size_t kHugePageHintBytes = size_t{4} << 20;
constexpr double kMaxSafeInteger = 9007199254740991.0;

// Arrays made by loadWeightShard in this process, for tests that check a failure made none.
std::atomic<uint64_t> gArraysAllocated{0};

struct RecordPlan {
  std::vector<int64_t> shape;
  DType dtype;
  bool bf16 = false;
  uint64_t byteOffset = 0;
  uint64_t storedBytes = 0;
  uint64_t arrayBytes = 0;
};

struct Failure {
  std::string kind;  // 'file' | 'aborted' | 'tvm'
  std::string message;
  int err = 0;  // errno, for 'file' failures of a system call
};

struct ShardJob {
  std::string path;
  std::string nextPath;
  uint64_t nbytes = 0;
  std::vector<RecordPlan> records;
  DeviceId device;
  const int32_t* cancel = nullptr;
  // Keeps the cancel flag's ArrayBuffer alive. A raw napi_ref, deleted in settle on the
  // JavaScript thread; a job that never settles (process teardown) leaks it harmlessly.
  napi_ref cancelRef = nullptr;
  std::vector<RawHandle> arrays;
  std::vector<ArrayInfo> infos;
  std::optional<Failure> failure;
};

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Asks the kernel to read the next shard into the page cache while this one is expanded:
// disk and CPU overlap, and the read-ahead costs no memory of this process.
class ReadAhead {
 public:
  explicit ReadAhead(const std::string& path) {
    if (path.empty()) return;
    try {
      thread_ = std::thread([path] {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;  // the shard's own load reports it
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
        ::close(fd);
      });
    } catch (const std::system_error&) {
      // No thread left: read-ahead is only a hint.
    }
  }
  ~ReadAhead() {
    if (thread_.joinable()) thread_.join();
  }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

 private:
  std::thread thread_;
};

void adviseHugePages(void* data, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
#ifdef MADV_HUGEPAGE
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

// Host staging for devices whose memory the loader cannot write directly, as large as the
// largest record so far. One per worker thread, kept from shard to shard of a load (fresh
// pages cost the kernel a zero-fill each time) while it is at most kKeepStagingBytes, so
// one huge record does not stay resident for the rest of the load; returned to the OS
// after the last shard or a failure.
class Staging {
 public:
  static constexpr size_t kKeepStagingBytes = size_t{64} << 20;
  ~Staging() { release(); }
  size_t size() const { return size_; }
  void release() {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }
  uint8_t* get(size_t bytes) {
    if (bytes > size_) {
      release();
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      adviseHugePages(p, bytes);
      data_ = static_cast<uint8_t*>(p);
      size_ = bytes;
    }
    return data_;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

bool cancelled(const ShardJob& job) { return __atomic_load_n(job.cancel, __ATOMIC_RELAXED) != 0; }

void fail(ShardJob& job, std::string kind, std::string message, int err = 0) {
  if (!job.failure) job.failure = Failure{std::move(kind), std::move(message), err};
}

// Reads exactly `bytes` at `offset`; a short file is reported, never padded.
bool readAt(int fd, uint64_t offset, uint8_t* dst, size_t bytes, uint64_t fileBytes, std::optional<Failure>* failure) {
  size_t done = 0;
  while (done < bytes) {
    size_t want = std::min<size_t>(bytes - done, size_t{1} << 30);
    ssize_t got = ::pread(fd, dst + done, want, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      *failure = Failure{"file", std::string("weight shard cannot be read (") + std::strerror(err) + ")", err};
      return false;
    }
    if (got == 0) {
      *failure = Failure{"file", "weight shard ended after " + std::to_string(offset + done) + " of " +
                                     std::to_string(fileBytes) + " bytes: the file was truncated while it was read"};
      return false;
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

// Fills the part of a record's array that stored bytes [from, to) of the record become:
// raw bytes straight in, bfloat16 a chunk at a time through `chunk`.
bool fillPart(int fd, uint64_t fileBytes, const RecordPlan& r, uint8_t* dst, uint64_t from, uint64_t to,
              std::vector<uint8_t>& chunk, std::optional<Failure>* failure) {
  if (!r.bf16) return readAt(fd, r.byteOffset + from, dst + from, to - from, fileBytes, failure);
  if (chunk.empty()) chunk.resize(kChunkBytes);
  auto* out = reinterpret_cast<uint32_t*>(dst);
  for (uint64_t done = from; done < to;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, to - done));
    if (!readAt(fd, r.byteOffset + done, chunk.data(), n, fileBytes, failure)) return false;
    expandBf16(chunk.data(), out + done / 2, n / 2);
    done += n;
  }
  return true;
}

// Large records are split over a few threads: reading from the page cache, expanding and
// the kernel's first touch of fresh device pages all scale with cores. Each thread has its
// own chunk buffer, kept for the whole shard.
class RecordFiller {
 public:
  RecordFiller(int fd, uint64_t fileBytes)
      : fd_(fd), fileBytes_(fileBytes), threads_(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, kMaxThreads)),
        chunks_(threads_) {}

  bool fill(const RecordPlan& r, uint8_t* dst, std::optional<Failure>* failure) {
    size_t parts = std::min<uint64_t>(threads_, std::max<uint64_t>(1, r.storedBytes / kMinPartBytes));
    if (parts == 1) return fillPart(fd_, fileBytes_, r, dst, 0, r.storedBytes, chunks_[0], failure);
    // Part boundaries on kChunkBytes multiples: even, so no bfloat16 is split.
    uint64_t step = (r.storedBytes / parts + kChunkBytes - 1) / kChunkBytes * kChunkBytes;
    std::vector<std::optional<Failure>> failures(parts);
    std::vector<std::thread> helpers;
    for (size_t p = 1; p < parts; ++p) {
      uint64_t from = std::min(p * step, r.storedBytes);
      uint64_t to = std::min(from + step, r.storedBytes);
      try {
        helpers.emplace_back([&, p, from, to] { fillPart(fd_, fileBytes_, r, dst, from, to, chunks_[p], &failures[p]); });
      } catch (const std::system_error&) {
        fillPart(fd_, fileBytes_, r, dst, from, to, chunks_[p], &failures[p]);  // no thread left: do it here
      }
    }
    fillPart(fd_, fileBytes_, r, dst, 0, std::min(step, r.storedBytes), chunks_[0], &failures[0]);
    for (std::thread& t : helpers) t.join();
    for (auto& f : failures) {
      if (f) {
        *failure = std::move(f);
        return false;
      }
    }
    return true;
  }

 private:
  static constexpr unsigned kMaxThreads = 4;
  static constexpr uint64_t kMinPartBytes = uint64_t{4} << 20;
  int fd_;
  uint64_t fileBytes_;
  unsigned threads_;
  std::vector<std::vector<uint8_t>> chunks_;
};

thread_local Staging tStaging;  // see Staging: jobs run on their runtime's worker thread

void loadRecords(Core& core, ShardJob& job, int fd) {
  Backend& backend = core.backend();
  Staging& staging = tStaging;
  RecordFiller filler(fd, job.nbytes);
  // Room for every handle up front: once made, a handle is always in job.arrays.
  job.arrays.reserve(job.records.size());
  job.infos.reserve(job.records.size());
  for (const RecordPlan& r : job.records) {
    if (cancelled(job)) return fail(job, "aborted", "the weight load was aborted");
    RawHandle handle{HandleKind::NDArray, nullptr};
    ArrayInfo info;
    if (Status err = backend.arrayAlloc(r.shape, r.dtype, job.device, &handle, &info)) return fail(job, "tvm", *err);
    gArraysAllocated.fetch_add(1, std::memory_order_relaxed);
    job.arrays.push_back(handle);
    job.infos.push_back(info);
    if (info.nbytes != r.arrayBytes) {
      return fail(job, "tvm", "the runtime made an array of " + std::to_string(info.nbytes) + " bytes for a record of " +
                                  std::to_string(r.arrayBytes));
    }
    if (r.arrayBytes == 0) continue;
    // CPU arrays are filled in place: no staging copy, no staging memory.
    void* host = nullptr;
    if (job.device.type == kCpuDeviceType && backend.hostData(handle.ptr, &host)) host = nullptr;
    uint8_t* dst = static_cast<uint8_t*>(host);
    if (dst != nullptr) {
      if (r.arrayBytes >= kHugePageHintBytes) adviseHugePages(dst, r.arrayBytes);
    } else {
      dst = staging.get(r.arrayBytes);
      if (dst == nullptr) return fail(job, "tvm", "no host memory for a " + std::to_string(r.arrayBytes) + "-byte staging buffer");
    }
    if (!filler.fill(r, dst, &job.failure)) return;
    if (host == nullptr) {
      if (Status err = backend.copyFromBytes(handle.ptr, dst, r.arrayBytes)) return fail(job, "tvm", *err);
    }
  }
}

// The whole job, on the worker thread. Always returns success: failures travel in
// job.failure so that JavaScript can tell a damaged file from an abort or a TVM error.
Status runShardJob(Core& core, ShardJob& job) {
  try {
    ReadAhead ahead(job.nextPath);
    FileDescriptor file(::open(job.path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (file.get() < 0) {
      int err = errno;
      fail(job, "file", std::string("weight shard cannot be opened (") + std::strerror(err) + ")", err);
    } else if (::fstat(file.get(), &st) != 0) {
      int err = errno;
      fail(job, "file", std::string("weight shard cannot be read (") + std::strerror(err) + ")", err);
    } else if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != job.nbytes) {
      // Checked before any array is made, so a short shard costs nothing to clean up.
      fail(job, "file",
           "weight shard has " + std::to_string(st.st_size) + " bytes, the index says " + std::to_string(job.nbytes) +
               ": the file is truncated or damaged");
    } else {
      ::posix_fadvise(file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
      loadRecords(core, job, file.get());
    }
  } catch (const std::exception& e) {
    fail(job, "tvm", std::string("loading the shard failed: ") + e.what());
  }
  if (job.failure) {
    for (RawHandle& h : job.arrays) core.backend().release(h);
    job.arrays.clear();
    job.infos.clear();
  }
  if (job.failure || job.nextPath.empty() || tStaging.size() > Staging::kKeepStagingBytes) tStaging.release();
  return {};
}

uint64_t safeUint(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throwInvalidArgument(env, "loadWeightShard: " + what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > kMaxSafeInteger) {
    throwInvalidArgument(env, "loadWeightShard: " + what + " must be a non-negative safe integer");
  }
  return static_cast<uint64_t>(d);
}

RecordPlan recordFromJs(Napi::Env env, const Napi::Value& value, uint64_t shardBytes, size_t index) {
  const std::string where = "records[" + std::to_string(index) + "]";
  if (!value.IsObject()) throwInvalidArgument(env, "loadWeightShard: " + where + " is not an object");
  Napi::Object obj = value.As<Napi::Object>();
  RecordPlan r;
  Napi::Value shape = obj.Get("shape");
  if (!shape.IsArray()) throwInvalidArgument(env, "loadWeightShard: " + where + ".shape is not an array");
  Napi::Array dims = shape.As<Napi::Array>();
  if (dims.Length() > 32) throwInvalidArgument(env, "loadWeightShard: " + where + " has more than 32 dimensions");
  double elements = 1;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    uint64_t d = safeUint(env, dims.Get(i), where + ".shape[" + std::to_string(i) + "]");
    elements *= static_cast<double>(d);
    r.shape.push_back(static_cast<int64_t>(d));
  }
  Napi::Value dtype = obj.Get("dtype");
  if (!dtype.IsString()) throwInvalidArgument(env, "loadWeightShard: " + where + ".dtype is not a string");
  auto parsed = parseDType(dtype.As<Napi::String>().Utf8Value());
  if (!parsed) throwInvalidArgument(env, "loadWeightShard: " + where + " has an unknown dtype");
  r.dtype = *parsed;
  r.bf16 = obj.Get("bf16").ToBoolean().Value();
  if (r.bf16 && !(r.dtype == DType{2, 32, 1})) throwInvalidArgument(env, "loadWeightShard: " + where + ": bf16 records must be float32");
  r.byteOffset = safeUint(env, obj.Get("byteOffset"), where + ".byteOffset");
  r.storedBytes = safeUint(env, obj.Get("nbytes"), where + ".nbytes");
  double arrayBytes = elements * static_cast<double>(r.dtype.bytes());
  if (arrayBytes > static_cast<double>(uint64_t{1} << 48)) throwInvalidArgument(env, "loadWeightShard: " + where + " would exceed 256 TiB");
  r.arrayBytes = static_cast<uint64_t>(arrayBytes);
  uint64_t expected = r.bf16 ? static_cast<uint64_t>(elements) * 2 : r.arrayBytes;
  if (r.storedBytes != expected) {
    throwInvalidArgument(env, "loadWeightShard: " + where + ".nbytes is " + std::to_string(r.storedBytes) + ", its shape needs " +
                        std::to_string(expected));
  }
  if (r.byteOffset > shardBytes || r.storedBytes > shardBytes - r.byteOffset) {
    throwInvalidArgument(env, "loadWeightShard: " + where + " lies beyond the end of the shard");
  }
  return r;
}

Napi::Value ExpandBf16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwInvalidArgument(env, "expandBf16: the source must be a Uint8Array");
  }
  if (!info[1].IsTypedArray()) throwInvalidArgument(env, "expandBf16: the destination must be a Uint32Array or Float32Array");
  auto src = info[0].As<Napi::TypedArray>();
  auto dst = info[1].As<Napi::TypedArray>();
  if (dst.TypedArrayType() != napi_uint32_array && dst.TypedArrayType() != napi_float32_array) {
    throwInvalidArgument(env, "expandBf16: the destination must be a Uint32Array or Float32Array");
  }
  size_t count = dst.ElementLength();
  if (src.ByteLength() != 2 * count) {
    throwInvalidArgument(env, "expandBf16: the source has " + std::to_string(src.ByteLength()) + " bytes, " +
                        std::to_string(count) + " float32 need " + std::to_string(2 * count));
  }
  auto* s = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  auto* d = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  if (count != 0 && s < d + 4 * count && d < s + 2 * count) throwInvalidArgument(env, "expandBf16: source and destination overlap");
  expandBf16(s, reinterpret_cast<uint32_t*>(d), count);
  return env.Undefined();
}

Napi::Value WeightLoaderStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("arraysAllocated", static_cast<double>(gArraysAllocated.load()));
  return out;
}

}  // namespace

Napi::Value loadWeightShard(const Napi::CallbackInfo& info, const std::shared_ptr<Core>& core) {
  Napi::Env env = info.Env();
  auto job = std::make_shared<ShardJob>();
  if (!info[0].IsString()) throwInvalidArgument(env, "loadWeightShard: the path must be a string");
  job->path = info[0].As<Napi::String>().Utf8Value();
  job->nbytes = safeUint(env, info[1], "the shard's nbytes");
  if (!info[2].IsArray()) throwInvalidArgument(env, "loadWeightShard: records must be an array");
  Napi::Array records = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < records.Length(); ++i) job->records.push_back(recordFromJs(env, records.Get(i), job->nbytes, i));
  job->device = deviceFromJs(env, info[3], info[4]);
  if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[5].As<Napi::TypedArray>().ElementLength() < 1) {
    throwInvalidArgument(env, "loadWeightShard: the cancel flag must be an Int32Array");
  }
  auto flag = info[5].As<Napi::TypedArray>();
  job->cancel = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(flag.ArrayBuffer().Data()) + flag.ByteOffset());
  if (!info[6].IsUndefined() && !info[6].IsNull()) {
    if (!info[6].IsString()) throwInvalidArgument(env, "loadWeightShard: nextPath must be a string or null");
    job->nextPath = info[6].As<Napi::String>().Utf8Value();
  }
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, flag, 1, &job->cancelRef), env.Undefined());

  auto settle = [core](Napi::Env env, ShardJob& j) -> Napi::Value {
    if (j.cancelRef != nullptr) napi_delete_reference(env, j.cancelRef);
    j.cancelRef = nullptr;
    Napi::Object out = Napi::Object::New(env);
    if (j.failure) {
      out.Set("failure", j.failure->kind);
      out.Set("message", j.failure->message);
      if (j.failure->err != 0) out.Set("errno", j.failure->err);
      return out;
    }
    Napi::Array arrays = Napi::Array::New(env, j.arrays.size());
    size_t i = 0;
    try {
      for (; i < j.arrays.size(); ++i) {
        // wrapHandle owns the handle from its first line, even when it throws.
        RawHandle raw = j.arrays[i];
        j.arrays[i].ptr = nullptr;
        // Weights are disposed by their pipeline: not reported to V8 (see ExternalMemory).
        arrays.Set(static_cast<uint32_t>(i), wrapHandle(env, core, raw, std::move(j.infos[i]), {}, ExternalMemory::Unreported));
      }
    } catch (...) {
      for (size_t k = i + 1; k < j.arrays.size(); ++k) core->release(j.arrays[k]);
      throw;
    }
    out.Set("arrays", arrays);
    return out;
  };
  return queueAsync<ShardJob>(
      env, core, job, [core](ShardJob& j) { return runShardJob(*core, j); }, settle);
}

void registerWeightLoaderExports(Napi::Env env, Napi::Object exports) {
  exports.Set("expandBf16", Napi::Function::New(env, ExpandBf16, "expandBf16"));
  exports.Set("weightLoaderStats", Napi::Function::New(env, WeightLoaderStats, "weightLoaderStats"));
}

}  // namespace sdmali
