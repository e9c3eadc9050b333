/**
 * Loads the compiled addon (prebuilt from prebuilds/, or built by node-gyp into build/)
 * and declares its shape. Nothing here is public: lib/tvm wraps every native object in a
 * TypeScript class.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DisposedError, TvmError } from '../errors.js';

export interface NativeNDArray {
  readonly shape: number[];
  readonly dtype: string;
  readonly deviceType: number;
  readonly deviceId: number;
  readonly byteLength: number;
  readonly disposed: boolean;
  copyFrom(view: ArrayBufferView | ArrayBuffer): void;
  copyTo<T extends ArrayBufferView>(view: T): T;
  copyFromAsync(view: ArrayBufferView | ArrayBuffer): Promise<void>;
  copyToAsync<T extends ArrayBufferView>(view: T): Promise<T>;
  dispose(): void;
}

export interface NativeModule {
  readonly disposed: boolean;
  getFunction(name: string, queryImports?: boolean): NativePackedFunction | null;
  getFunctionAsync(name: string, queryImports?: boolean): Promise<NativePackedFunction | null>;
  dispose(): void;
}

/** Tagged values the addon understands besides handles and JS primitives. */
export type NativeTagged =
  | { kind: 'int'; value: number | bigint }
  | { kind: 'float'; value: number }
  | { kind: 'device'; deviceType: number; deviceId: number }
  | { kind: 'dtype'; value: string };

export type NativeArg =
  | NativeNDArray
  | NativeModule
  | NativePackedFunction
  | NativeObject
  | NativeTagged
  | Uint8Array
  | string
  | bigint
  | boolean
  | null
  | undefined;

export type NativeRet =
  | NativeNDArray
  | NativeModule
  | NativePackedFunction
  | NativeObject
  | { kind: 'device'; deviceType: number; deviceId: number }
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | null;

export interface NativePackedFunction {
  readonly disposed: boolean;
  call(args: readonly unknown[]): NativeRet;
  callAsync(args: readonly unknown[]): Promise<NativeRet>;
  dispose(): void;
}

export interface NativeObject {
  readonly typeKey: string;
  readonly disposed: boolean;
  dispose(): void;
}

/** One record of a shard as the native weight loader takes it (see native/src/weight_loader.h). */
export interface NativeShardRecord {
  shape: readonly number[];
  dtype: string;
  /** Stored as bfloat16, expanded to float32 on the way in. */
  bf16: boolean;
  byteOffset: number;
  nbytes: number;
}

export type NativeShardResult =
  | { arrays: NativeNDArray[]; failure?: undefined }
  | { arrays?: undefined; failure: 'file' | 'aborted' | 'tvm'; message: string; errno?: number };

export interface NativeRuntime {
  readonly abi: string;
  /** The ABI library's own version (tvm-ffi: '0.1.13'); '' where it reports none. */
  readonly abiVersion: string;
  prepareDevice(deviceType: number, deviceId: number): void;
  readonly libraryPath: string;
  readonly disposed: boolean;
  loadModule(path: string, format?: string): NativeModule;
  getGlobal(name: string): NativePackedFunction | null;
  listGlobalNames(): string[];
  empty(shape: readonly number[], dtype: string, deviceType: number, deviceId: number): NativeNDArray;
  sync(deviceType: number, deviceId: number): void;
  syncAsync(deviceType: number, deviceId: number): Promise<void>;
  loadModuleAsync(path: string, format?: string): Promise<NativeModule>;
  getGlobalAsync(name: string): Promise<NativePackedFunction | null>;
  emptyAsync(shape: readonly number[], dtype: string, deviceType: number, deviceId: number): Promise<NativeNDArray>;
  /** Reads, expands and uploads one weight shard on the worker thread. */
  loadWeightShard(
    path: string,
    nbytes: number,
    records: readonly NativeShardRecord[],
    deviceType: number,
    deviceId: number,
    cancel: Int32Array,
    nextPath: string | null,
  ): Promise<NativeShardResult>;
  dispose(): void;
}

export type OpenRuntimeResult =
  | { runtime: NativeRuntime; failure?: undefined }
  | { runtime?: undefined; failure: 'open' | 'abi' | 'conflict'; message: string; abi?: string; loadedPath?: string };

/** probeSharedLibrary: whether dlopen(name) works, and which file it opened. */
export interface LibraryProbe {
  loaded: boolean;
  path?: string;
  error?: string;
}

/** One OpenCL device as the ICD loader lists it. */
export interface OpenClDeviceFacts {
  /** CL_DEVICE_TYPE bits: 2 CPU, 4 GPU, 8 accelerator, 16 custom (1: the default device). */
  type: number;
  name: string;
  vendor: string;
  /** CL_DEVICE_VERSION, e.g. 'OpenCL 3.0 PoCL …'. */
  version: string;
  driverVersion: string;
  /** CL_DEVICE_EXTENSIONS, space-separated ('' when the driver did not say). */
  extensions?: string;
}

export interface OpenClPlatformFacts {
  name: string;
  vendor: string;
  version: string;
  devices: number;
  /** The devices (up to 64), in the platform's order (absent from probes that do not list them). */
  deviceList?: OpenClDeviceFacts[];
  /** clGetDeviceIDs' status when it failed other than "no device". */
  deviceError?: number;
}

/** probeOpenClPlatforms: what an OpenCL ICD loader reports. */
export interface OpenClPlatformsProbe {
  /** The loader did not open or is not OpenCL. */
  error?: string;
  /** clGetPlatformIDs' status (0, or e.g. -1001 when there is no platform). */
  platformError: number;
  platforms: OpenClPlatformFacts[];
}

/** What the OpenCL forwarding library counted since the process started. */
export interface OpenClCacheStats {
  /** Programs compiled from source. */
  sourceBuilds: number;
  /** Programs made from a cached binary. */
  binaryHits: number;
  /** Binaries written to the cache. */
  stored: number;
  /** Cached binaries the driver refused (deleted, rebuilt from source). */
  rejected: number;
  /** Damaged cache entries (deleted, rebuilt from source). */
  corrupt: number;
  /** Binaries that could not be written (read-only or full directory). */
  writeFailures: number;
  /** Programs the cache does not handle (a context with several devices, no binary). */
  bypassed: number;
}

type Ctor<T> = abstract new (...args: never[]) => T;

export interface NativeBinding {
  readonly abiVersion: number;
  readonly NativeNDArray: Ctor<NativeNDArray>;
  readonly NativeModule: Ctor<NativeModule>;
  readonly NativePackedFunction: Ctor<NativePackedFunction>;
  readonly NativeObject: Ctor<NativeObject>;
  readonly NativeRuntime: Ctor<NativeRuntime>;
  openRuntime(path: string): OpenRuntimeResult;
  probeSharedLibrary(name: string): Promise<LibraryProbe>;
  loadOpenClForwarder(path: string): { loaded: boolean; path?: string; error?: string };
  configureOpenClCache(dir: string, maxBytes: number): boolean;
  openClCacheStats(): OpenClCacheStats | null;
  flushOpenClCache(): Promise<number>;
  probeOpenClPlatforms(loader: string): Promise<OpenClPlatformsProbe>;
  setErrorClasses(classes: { TvmError: typeof TvmError; DisposedError: typeof DisposedError }): void;
  /** The weight loader's bfloat16 expansion, synchronous (tests and the bench's floor). */
  expandBf16(src: Uint8Array, dst: Uint32Array | Float32Array): void;
  /** PNG row filtering (libpng's heuristic) on libuv's pool: (width * 4 + 1) * height bytes. */
  pngFilterRows(rgba: Uint8Array, width: number, height: number): Promise<Buffer>;
  /** The CRC-32 of PNG chunks, unsigned. */
  crc32(bytes: Uint8Array): number;
  /** Arrays made by loadWeightShard in this process. */
  weightLoaderStats(): { arraysAllocated: number };
}

/** The package root: the nearest folder up from here with binding.gyp. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sd-mali: cannot find the package root (binding.gyp)');
    dir = parent;
  }
}

let binding: NativeBinding | undefined;

export function nativeBinding(): NativeBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => unknown;
  let loaded: NativeBinding;
  try {
    loaded = load(packageRoot()) as NativeBinding;
  } catch (err) {
    throw new Error(
      `sd-mali: its native addon is not built for ${process.platform}-${process.arch} (no prebuilt binary matched). ` +
        'Build it with python3, make and a C++17 compiler present: `npm rebuild sd-mali` ' +
        '(npm >= 11 holds install scripts until you run `npm install-scripts approve sd-mali`).',
      { cause: err },
    );
  }
  loaded.setErrorClasses({ TvmError, DisposedError });
  binding = loaded;
  return loaded;
}
