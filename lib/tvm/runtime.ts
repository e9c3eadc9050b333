import { DisposedError, InvalidArgumentError, type RuntimeAttempt, RuntimeConflictError, RuntimeNotFoundError, TvmError, UnsupportedAbiError } from '../errors.js';
import { Device } from './device-handle.js';
import { DEVICE_TYPE, parseDeviceSpec, type DeviceKind } from './device.js';
import { isDType, typedArrayCtorFor, type DType } from './dtype.js';
import { runtimeCandidates } from './locate-runtime.js';
import { Module } from './module.js';
import { ensureOpenClForwarder } from './opencl-forwarder.js';
import { nativeBinding, type NativePackedFunction, type NativeRet, type NativeRuntime } from './native.js';
import { NDArray } from './ndarray.js';
import { TvmObject } from './object.js';
import { PackedFunction, type TvmValue } from './packed-function.js';

export interface LoadRuntimeOptions {
  /** Path of libtvm_runtime.so (or its directory). Default: see runtimeCandidates. */
  library?: string;
}

export type Abi = 'legacy' | 'tvm-ffi';

/** The TVM releases of each ABI (the runtime library records no release number). */
export function tvmVersionOfAbi(abi: Abi): string {
  return abi === 'tvm-ffi' ? 'TVM >= v0.22' : 'TVM <= v0.20';
}

/**
 * An opened TVM runtime library. Everything that waits for it runs on its one worker thread
 * and returns a Promise (the methods ending in Async); abi, libraryPath, disposed and
 * device() never wait.
 */
export class TvmRuntime implements Disposable {
  /** @internal */
  readonly native: NativeRuntime;

  /** @internal Use loadRuntime(). */
  constructor(native: NativeRuntime) {
    this.native = native;
  }

  /** Which C ABI the library speaks. */
  get abi(): Abi {
    return this.native.abi as Abi;
  }

  /** The version the ABI library reports (tvm-ffi's, e.g. '0.1.13'); undefined for the legacy ABI. */
  get abiVersion(): string | undefined {
    return this.native.abiVersion || undefined;
  }

  /** Which TVM releases speak this runtime's ABI. */
  get tvmVersion(): string {
    return tvmVersionOfAbi(this.abi);
  }

  get libraryPath(): string {
    return this.native.libraryPath;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * A device by kind ('opencl', 'cpu', ...) or spec ('opencl:1'). Does not wait: the device
   * is readied on first use (an allocation, a sync, an attribute, a call that takes it).
   */
  device(kind: DeviceKind | string = 'cpu', id?: number): Device {
    const spec = parseDeviceSpec(kind);
    const deviceId = id ?? spec.id;
    if (!Number.isInteger(deviceId) || deviceId < 0) throw new InvalidArgumentError(`device id must be a non-negative integer, got ${deviceId}`);
    this.#check();
    return new Device(this, DEVICE_TYPE[spec.kind], deviceId);
  }

  /** Loads a module file (a compiled library such as stable_diffusion_opencl.so) on the runtime's worker thread. */
  async loadModuleAsync(path: string, format = ''): Promise<Module> {
    return new Module(this, await this.native.loadModuleAsync(path, format));
  }

  /** A registered global function, looked up on the runtime's worker thread; undefined when absent. */
  async findGlobalFunctionAsync(name: string): Promise<PackedFunction | undefined> {
    const fn = await this.native.getGlobalAsync(name);
    return fn === null ? undefined : this.wrapFunction(fn, name);
  }

  /** Like findGlobalFunctionAsync, but a missing function is a TvmError. */
  async getGlobalFunctionAsync(name: string): Promise<PackedFunction> {
    const fn = await this.findGlobalFunctionAsync(name);
    if (!fn) throw new TvmError(`global function '${name}' is not registered in ${this.libraryPath}`);
    return fn;
  }

  /** The names of every registered global function. */
  listGlobalFunctionsAsync(): Promise<string[]> {
    return this.native.listGlobalNamesAsync();
  }

  /** An uninitialised array on `device` (default: the CPU), allocated on the runtime's worker thread. */
  async emptyAsync(shape: readonly number[], dtype: DType, device: Device = this.device('cpu')): Promise<NDArray> {
    if (!isDType(dtype)) throw new InvalidArgumentError(`unsupported dtype '${String(dtype)}'`);
    return new NDArray(await this.native.emptyAsync(shape, dtype, device.deviceType, device.deviceId), device);
  }

  /** An array on `device` holding a copy of `data`: allocation and copy on the runtime's worker thread. */
  async ndarrayAsync(data: ArrayBufferView, shape: readonly number[], dtype: DType, device: Device = this.device('cpu')): Promise<NDArray> {
    const arr = await this.emptyAsync(shape, dtype, device);
    try {
      await arr.copyFromAsync(data);
    } catch (err) {
      arr.dispose();
      throw err;
    }
    return arr;
  }

  /** An Array object of the given arrays (what model functions take as weights), made on the runtime's worker thread. */
  async arrayAsync(items: readonly NDArray[]): Promise<TvmObject> {
    for (const item of items) {
      if (!(item instanceof NDArray)) throw new InvalidArgumentError('runtime.arrayAsync() takes NDArrays');
    }
    const make = await this.getGlobalFunctionAsync(this.#arrayConstructor());
    let out;
    try {
      out = await make.callAsync(...items);
    } finally {
      make.dispose();
    }
    if (!(out instanceof TvmObject)) throw new TvmError('runtime.Array did not return an object');
    return out;
  }

  /** The global that makes an Array object: runtime.Array (legacy), ffi.Array (tvm-ffi). */
  #arrayConstructor(): string {
    return this.abi === 'tvm-ffi' ? 'ffi.Array' : 'runtime.Array';
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal */
  wrapFunction(native: NativePackedFunction, name: string): PackedFunction {
    return new PackedFunction(this, native, name);
  }

  /** @internal Converts what the addon returned into the public classes. */
  wrap(value: NativeRet, name = ''): TvmValue {
    const b = nativeBinding();
    if (value instanceof b.NativeNDArray) return new NDArray(value, new Device(this, value.deviceType, value.deviceId));
    if (value instanceof b.NativeModule) return new Module(this, value);
    if (value instanceof b.NativePackedFunction) return new PackedFunction(this, value, name);
    if (value instanceof b.NativeObject) return new TvmObject(value);
    if (value !== null && typeof value === 'object' && 'kind' in value && value.kind === 'device') {
      return new Device(this, value.deviceType, value.deviceId);
    }
    return value as TvmValue;
  }

  #check(): void {
    if (this.native.disposed) throw new DisposedError('this runtime was disposed and can no longer be used');
  }
}

/**
 * Finds and opens libtvm_runtime.so. Throws RuntimeNotFoundError (every path tried) or
 * UnsupportedAbiError (a runtime whose ABI sd-mali does not speak), or RuntimeConflictError
 * (another runtime file is already loaded in this process).
 */
export function loadRuntime(options: LoadRuntimeOptions = {}): TvmRuntime {
  const binding = nativeBinding();
  // Before the runtime can touch OpenCL: TVM must find sd-mali's libOpenCL.so first.
  ensureOpenClForwarder();
  const attempts: RuntimeAttempt[] = [];
  for (const candidate of runtimeCandidates(options.library)) {
    const result = binding.openRuntime(candidate.path);
    if (result.runtime) return new TvmRuntime(result.runtime);
    if (result.failure === 'abi') throw new UnsupportedAbiError(candidate.path, result.abi ?? 'unknown', result.message);
    if (result.failure === 'conflict') throw new RuntimeConflictError(candidate.path, result.loadedPath ?? 'unknown');
    attempts.push({ ...candidate, reason: result.message });
  }
  throw new RuntimeNotFoundError(attempts);
}

export { typedArrayCtorFor };
