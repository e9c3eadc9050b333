#include "convert.h"

#include <cmath>
#include <string>

#include "addon.h"
#include "dtype.h"
#include "handles.h"

namespace sdmali {
namespace {

constexpr double kMaxSafe = 9007199254740991.0;

int64_t intFromJs(Napi::Env env, const Napi::Value& v, const std::string& where) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t out = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throwInvalidArgument(env, where + ": the bigint does not fit in int64");
    return out;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d) throwInvalidArgument(env, where + ": not an integer");
    if (std::fabs(d) > kMaxSafe) throwInvalidArgument(env, where + ": beyond Number.MAX_SAFE_INTEGER; pass a bigint");
    return static_cast<int64_t>(d);
  }
  throwInvalidArgument(env, where + ": expected an integer (number or bigint)");
}

int32_t int32FromJs(Napi::Env env, const Napi::Value& v, const std::string& where) {
  int64_t x = intFromJs(env, v, where);
  if (x < INT32_MIN || x > INT32_MAX) throwInvalidArgument(env, where + ": out of int32 range");
  return static_cast<int32_t>(x);
}

Arg taggedFromJs(Napi::Env env, const Napi::Object& obj, const std::string& where) {
  Napi::Value kind = obj.Get("kind");
  if (!kind.IsString()) {
    throwInvalidArgument(env, where + ": unsupported argument; pass an NDArray, Module, PackedFunction, "
                           "TvmObject, string, bigint, boolean, null or a typed scalar "
                           "(tvm.int(), tvm.float())");
  }
  const std::string k = kind.As<Napi::String>().Utf8Value();
  if (k == "int") return intFromJs(env, obj.Get("value"), where + " (int)");
  if (k == "float") {
    Napi::Value v = obj.Get("value");
    if (!v.IsNumber()) throwInvalidArgument(env, where + ": a float scalar needs a number value");
    return v.As<Napi::Number>().DoubleValue();
  }
  if (k == "device") return deviceFromJs(env, obj.Get("deviceType"), obj.Get("deviceId"));
  if (k == "dtype") {
    Napi::Value v = obj.Get("value");
    if (!v.IsString()) throwInvalidArgument(env, where + ": a dtype argument needs a string value");
    auto d = parseDType(v.As<Napi::String>().Utf8Value());
    if (!d) throwInvalidArgument(env, where + ": unknown dtype '" + v.As<Napi::String>().Utf8Value() + "'");
    return *d;
  }
  throwInvalidArgument(env, where + ": unknown argument kind '" + k + "'");
}

}  // namespace

DeviceId deviceFromJs(Napi::Env env, const Napi::Value& type, const Napi::Value& id) {
  DeviceId d;
  d.type = int32FromJs(env, type, "device type");
  d.id = int32FromJs(env, id, "device id");
  if (d.type < 1 || d.type > 64) throwInvalidArgument(env, "device type " + std::to_string(d.type) + " is not a DLPack device type");
  if (d.id < 0) throwInvalidArgument(env, "device id must be >= 0");
  return d;
}

HandleRef handleFromJs(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  AddonData& data = addonData(env);
  Napi::Object obj = value.As<Napi::Object>();
  HandleWrap* wrap = nullptr;
  const char* what = "";
  if (obj.InstanceOf(data.ndarrayCtor.Value())) {
    wrap = NDArrayWrap::Unwrap(obj), what = "NDArray";
  } else if (obj.InstanceOf(data.moduleCtor.Value())) {
    wrap = ModuleWrap::Unwrap(obj), what = "Module";
  } else if (obj.InstanceOf(data.functionCtor.Value())) {
    wrap = FunctionWrap::Unwrap(obj), what = "PackedFunction";
  } else if (obj.InstanceOf(data.objectCtor.Value())) {
    wrap = ObjectWrapper::Unwrap(obj), what = "TvmObject";
  } else {
    return nullptr;
  }
  if (wrap == nullptr || !wrap->handle()) throwDisposed(env, what);
  return wrap->handle();
}

std::vector<Arg> argsFromJs(Napi::Env env, const Napi::Value& list, const Core& core) {
  if (!list.IsArray()) throwInvalidArgument(env, "arguments must be passed as an array");
  Napi::Array array = list.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (n > 4096) throwInvalidArgument(env, "too many arguments (" + std::to_string(n) + ")");
  std::vector<Arg> args;
  args.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string where = "argument " + std::to_string(i);
    Napi::Value v = array.Get(i);
    if (v.IsUndefined() || v.IsNull()) {
      args.emplace_back(std::monostate{});
    } else if (v.IsBoolean()) {
      args.emplace_back(v.As<Napi::Boolean>().Value());
    } else if (v.IsBigInt()) {
      args.emplace_back(intFromJs(env, v, where));
    } else if (v.IsNumber()) {
      throwInvalidArgument(env, where + ": a plain number is ambiguous for TVM; wrap it as tvm.int(" +
                         v.ToString().Utf8Value() + ") or tvm.float(" + v.ToString().Utf8Value() + ")");
    } else if (v.IsString()) {
      args.emplace_back(v.As<Napi::String>().Utf8Value());
    } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      auto bytes = v.As<Napi::Uint8Array>();
      Bytes b;
      b.data.assign(bytes.Data(), bytes.Data() + bytes.ByteLength());
      args.emplace_back(std::move(b));
    } else if (HandleRef h = handleFromJs(env, v)) {
      if (h->core().get() != &core) throwInvalidArgument(env, where + ": belongs to another TVM runtime");
      args.emplace_back(std::move(h));
    } else if (v.IsObject()) {
      args.push_back(taggedFromJs(env, v.As<Napi::Object>(), where));
    } else {
      throwInvalidArgument(env, where + ": unsupported argument type");
    }
  }
  return args;
}

Napi::Value retToJs(Napi::Env env, const std::shared_ptr<Core>& core, Ret&& ret) {
  return std::visit(
      [&](auto& v) -> Napi::Value {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return env.Null();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          if (static_cast<double>(v) <= kMaxSafe && static_cast<double>(v) >= -kMaxSafe)
            return Napi::Number::New(env, static_cast<double>(v));
          return Napi::BigInt::New(env, v);
        } else if constexpr (std::is_same_v<T, double>) {
          return Napi::Number::New(env, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return Napi::Boolean::New(env, v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return Napi::String::New(env, v);
        } else if constexpr (std::is_same_v<T, Bytes>) {
          return Napi::Buffer<uint8_t>::Copy(env, v.data.data(), v.data.size());
        } else if constexpr (std::is_same_v<T, DeviceId>) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("kind", "device");
          o.Set("deviceType", v.type);
          o.Set("deviceId", v.id);
          return o;
        } else if constexpr (std::is_same_v<T, DType>) {
          return Napi::String::New(env, formatDType(v));
        } else {
          static_assert(std::is_same_v<T, RawHandle>);
          return wrapHandle(env, core, v, std::move(ret.array), std::move(ret.typeKey));
        }
      },
      ret.value);
}

}  // namespace sdmali
