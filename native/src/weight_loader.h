// Loading one weight shard onto a device on the runtime's worker thread: the file is read,
// bfloat16 records are expanded to float32 and every record becomes an NDArray, without
// the JavaScript thread touching a byte. lib/artifacts/weight-loader.ts drives it shard by
// shard and owns the arrays once they are handed over.
#pragma once

#include <napi.h>

#include <memory>

#include "core.h"

namespace sdmali {

// runtime.loadWeightShard(path, nbytes, records, deviceType, deviceId, cancel, nextPath)
//   -> Promise<{ arrays } | { failure: 'file' | 'aborted' | 'tvm', message, errno? }>
// `records`: [{ shape, dtype, bf16, byteOffset, nbytes }] in file order, already checked by
// the index parser (checked again here: bad input from JavaScript never reaches memory).
// `cancel`: an Int32Array whose element 0 JavaScript sets (Atomics.store) to stop between
// records. `nextPath`: the shard after this one, read ahead into the page cache meanwhile;
// null for the last shard, after which the staging buffer (non-CPU devices) is freed.
// On any failure every array this call made, and the staging buffer, are freed before the
// Promise settles.
Napi::Value loadWeightShard(const Napi::CallbackInfo& info, const std::shared_ptr<Core>& core);

// Module-level functions for tests and the bench: expandBf16(src: Uint8Array,
// dst: Uint32Array | Float32Array) and weightLoaderStats() -> { arraysAllocated }.
void registerWeightLoaderExports(Napi::Env env, Napi::Object exports);

}  // namespace sdmali
