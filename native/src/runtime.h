// The JavaScript class of an opened runtime: module loading, global functions, NDArray
// allocation and device synchronisation.
#pragma once

#include <napi.h>

#include "core.h"

namespace sdmali {

class RuntimeWrap : public Napi::ObjectWrap<RuntimeWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RuntimeWrap(const Napi::CallbackInfo& info);
  void Adopt(std::shared_ptr<Core> core) { core_ = std::move(core); }

 private:
  Core& require(Napi::Env env);
  Napi::Value Abi(const Napi::CallbackInfo& info);
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value LoadModule(const Napi::CallbackInfo& info);
  Napi::Value GetGlobal(const Napi::CallbackInfo& info);
  Napi::Value ListGlobalNames(const Napi::CallbackInfo& info);
  Napi::Value Empty(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value SyncAsync(const Napi::CallbackInfo& info);
  Napi::Value LoadWeightShard(const Napi::CallbackInfo& info);  // weight_loader.h
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Core> core_;
};

}  // namespace sdmali
