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
export {
  diagnoseOpenCl,
  listVendorFiles,
  probeTvmOpenClDevice,
  systemView as openClSystemView,
  TVM_OPENCL_LIBRARY_NAMES,
  type DiagnoseOpenClOptions,
  type OpenClCause,
  type OpenClDiagnosis,
  type OpenClSystemView,
} from './opencl-setup.js';
export {
  cpuOpenClProblem,
  describeKind,
  describeOpenClDevice,
  describeVendorFiles,
  identifyTvmOpenClDevice,
  kindOfType,
  tvmOpenClDevices,
  type OpenClDeviceIdentity,
  type OpenClDeviceKind,
  type VendorFile,
  type VendorFiles,
} from './opencl-device-kind.js';
export { ensureOpenClForwarder, openClForwarderState, type OpenClForwarderState } from './opencl-forwarder.js';
export {
  configureProgramCache,
  programCacheState,
  programCacheStats,
  programCacheDir,
  defaultCacheRoot,
  inspectProgramCache,
  clearProgramCache,
  recordProgramCacheRun,
  flushProgramCache,
  DEFAULT_PROGRAM_CACHE_MAX_BYTES,
  type ProgramCacheState,
  type ProgramCacheContents,
} from './program-cache.js';
export { type OpenClCacheStats, type LibraryProbe, type OpenClPlatformsProbe, type OpenClPlatformFacts } from './native.js';
export { TvmError, DisposedError, RuntimeConflictError, RuntimeNotFoundError, UnsupportedAbiError } from '../errors.js';
