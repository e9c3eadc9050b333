// Runs work on a runtime's worker thread and settles a Promise on the JavaScript thread.
// One thread-safe function per task keeps the event loop alive until the result is
// delivered, and is released right after.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "addon.h"
#include "core.h"

namespace sdmali {

// `work` runs on the worker and returns an error or nothing; `settle` runs on the JS
// thread after success and returns the resolution value; `cleanup`, when given, runs on
// the JS thread after either outcome (to drop references to JavaScript values).
template <typename State>
Napi::Promise queueAsync(Napi::Env env, const std::shared_ptr<Core>& core, std::shared_ptr<State> state,
                         std::function<Status(State&)> work,
                         std::function<Napi::Value(Napi::Env, State&)> settle,
                         std::function<void(Napi::Env, State&)> cleanup = nullptr) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  Napi::Promise promise = deferred->Promise();
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "sd-mali.async", 0, 1);
  bool queued = core->worker().post([state, work, settle, cleanup, deferred, tsfn]() mutable {
    auto error = std::make_shared<Status>(work(*state));
    napi_status status = tsfn.BlockingCall([state, settle, cleanup, deferred, error](Napi::Env env, Napi::Function) {
      try {
        if (*error) {
          deferred->Reject(makeTvmError(env, **error).Value());
        } else {
          deferred->Resolve(settle(env, *state));
        }
      } catch (const Napi::Error& e) {
        deferred->Reject(e.Value());
      }
      if (cleanup) cleanup(env, *state);
    });
    // napi_closing: the environment is being torn down and owns the function now; a
    // release would touch freed memory.
    if (status != napi_closing) tsfn.Release();
  });
  if (!queued) {
    if (cleanup) cleanup(env, *state);
    tsfn.Release();
    deferred->Reject(makeTvmError(env, "the TVM runtime was shut down").Value());
  }
  return promise;
}

}  // namespace sdmali
