// Moving call arguments and results across the JavaScript / C++ boundary. Everything
// coming from JavaScript is checked here; nothing is guessed (a plain JS number is
// refused: the caller says int or float).
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "backend.h"
#include "core.h"

namespace sdmali {

std::vector<Arg> argsFromJs(Napi::Env env, const Napi::Value& list, const Core& core);
Napi::Value retToJs(Napi::Env env, const std::shared_ptr<Core>& core, Ret&& ret);
// Returns the handle of a native wrapper object, or null if `value` is none.
HandleRef handleFromJs(Napi::Env env, const Napi::Value& value);
DeviceId deviceFromJs(Napi::Env env, const Napi::Value& type, const Napi::Value& id);

}  // namespace sdmali
