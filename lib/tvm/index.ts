/**
 * sd-mali/tvm: the TVM runtime from Node.js, for any TVM-compiled model.
 *
 *   import { tvm } from 'sd-mali';   // or: import * as tvm from 'sd-mali/tvm';
 *   using rt = tvm.loadRuntime();
 *   const dev = rt.device('opencl');
 */
export { loadRuntime, TvmRuntime, tvmVersionOfAbi, type Abi, type LoadRuntimeOptions } from './runtime.js';
export { runtimeCandidates, RUNTIME_LIBRARY_NAME, type RuntimeCandidate } from './locate-runtime.js';
export { Device, type DeviceAttributes } from './device-handle.js';
export { DEVICE_TYPE, parseDeviceSpec, type DeviceKind } from './device.js';
export { NDArray } from './ndarray.js';
export { Module } from './module.js';
export { PackedFunction, type TvmArg, type TvmValue } from './packed-function.js';
export { TvmObject } from './object.js';
export { int, float, dtype, type TvmInt, type TvmFloat, type TvmDataType } from './scalars.js';
export { type DType, type AnyTypedArray, isDType, bytesPerElement } from './dtype.js';
export { TvmError, DisposedError, RuntimeNotFoundError, UnsupportedAbiError } from '../errors.js';
