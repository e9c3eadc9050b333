// The few OpenCL 1.2 types, constants and entry points the forwarding library uses,
// declared here so that it builds without OpenCL headers (handles are opaque pointers;
// on Linux the OpenCL calling convention is the platform's default).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sdmali::cl {

using Int = int32_t;
using Uint = uint32_t;
using Context = struct ContextOpaque*;
using DeviceId = struct DeviceOpaque*;
using PlatformId = struct PlatformOpaque*;
using Program = struct ProgramOpaque*;
using BuildNotify = void (*)(Program, void*);

constexpr Int kSuccess = 0;
constexpr Int kInvalidValue = -30;
constexpr Int kInvalidBinary = -42;

constexpr Uint kContextDevices = 0x1081;
constexpr Uint kDevicePlatform = 0x1031;
constexpr Uint kDeviceName = 0x102B;
constexpr Uint kDeviceVendor = 0x102C;
constexpr Uint kDriverVersion = 0x102D;
constexpr Uint kDeviceVersion = 0x102F;
constexpr Uint kPlatformVersion = 0x0901;
constexpr Uint kProgramNumDevices = 0x1162;
constexpr Uint kProgramBinarySizes = 0x1165;
constexpr Uint kProgramBinaries = 0x1166;

using CreateProgramWithSourceFn = Program (*)(Context, Uint, const char**, const size_t*, Int*);
using CreateProgramWithBinaryFn = Program (*)(Context, Uint, const DeviceId*, const size_t*,
                                              const unsigned char**, Int*, Int*);
using BuildProgramFn = Int (*)(Program, Uint, const DeviceId*, const char*, BuildNotify, void*);
using ReleaseProgramFn = Int (*)(Program);
using GetContextInfoFn = Int (*)(Context, Uint, size_t, void*, size_t*);
using GetDeviceInfoFn = Int (*)(DeviceId, Uint, size_t, void*, size_t*);
using GetPlatformInfoFn = Int (*)(PlatformId, Uint, size_t, void*, size_t*);
using GetProgramInfoFn = Int (*)(Program, Uint, size_t, void*, size_t*);

}  // namespace sdmali::cl
