// Runs blocking work that needs no TVM runtime (dlopen of a driver, OpenCL queries, reading
// program binaries back) on libuv's thread pool and settles a Promise on the JavaScript
// thread. TVM calls go through queueAsync (async_task.h) instead: they need the runtime's
// own thread.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>

namespace sdmali {

template <typename Result>
class PoolTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Settle = std::function<Napi::Value(Napi::Env, Result&)>;

  // `work` runs on the pool; `settle` turns its result into the resolution value.
  static Napi::Promise run(Napi::Env env, Work work, Settle settle) {
    auto* task = new PoolTask(env, std::move(work), std::move(settle));
    Napi::Promise promise = task->deferred_.Promise();
    task->Queue();  // deleted by node-addon-api once settled
    return promise;
  }

 private:
  PoolTask(Napi::Env env, Work work, Settle settle)
      : Napi::AsyncWorker(env), work_(std::move(work)), settle_(std::move(settle)), deferred_(Napi::Promise::Deferred::New(env)) {}

  void Execute() override { result_ = work_(); }
  void OnOK() override { deferred_.Resolve(settle_(Env(), result_)); }

  Work work_;
  Settle settle_;
  Result result_{};
  Napi::Promise::Deferred deferred_;
};

}  // namespace sdmali
