// The JavaScript class of an opened runtime: module loading, global functions, NDArray
// allocation and device synchronisation.
#pragma once

#include <napi.h>

#include <vector>

#include "core.h"
#include "dtype.h"

namespace sdmali {

// The arguments of empty(shape, dtype, deviceType, deviceId), checked.
struct EmptyRequest {
  std::vector<int64_t> shape;
  DType dtype;
  DeviceId device;
};
EmptyRequest emptyRequestFromJs(const Napi::CallbackInfo& info);

class RuntimeWrap : public Napi::ObjectWrap<RuntimeWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RuntimeWrap(const Napi::CallbackInfo& info);
  void Adopt(std::shared_ptr<Core> core) { core_ = std::move(core); }

 private:
  Core& require(Napi::Env env);
  Napi::Value Abi(const Napi::CallbackInfo& info);
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value AbiVersion(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  // async_methods.cc: every operation that waits for the runtime runs on its worker thread
  // and settles a Promise.
  Napi::Value PrepareDeviceAsync(const Napi::CallbackInfo& info);
  Napi::Value SyncAsync(const Napi::CallbackInfo& info);
  Napi::Value LoadModuleAsync(const Napi::CallbackInfo& info);
  Napi::Value GetGlobalAsync(const Napi::CallbackInfo& info);
  Napi::Value ListGlobalNamesAsync(const Napi::CallbackInfo& info);
  Napi::Value EmptyAsync(const Napi::CallbackInfo& info);
  Napi::Value LoadWeightShard(const Napi::CallbackInfo& info);  // weight_loader.h
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Core> core_;
};

}  // namespace sdmali
