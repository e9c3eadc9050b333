/**
 * The error classes sd-mali throws. Native code throws the same classes (they are handed
 * to the addon when it loads), so `instanceof` works whatever layer failed.
 */

export type SdMaliErrorCode =
  | 'TVM_ERROR'
  | 'DISPOSED'
  | 'RUNTIME_NOT_FOUND'
  | 'UNSUPPORTED_ABI'
  | 'RUNTIME_CONFLICT'
  | 'ARTIFACT_ERROR'
  | 'TOKENIZER_ERROR'
  | 'ABORTED'
  | 'INVALID_ARGUMENT'
  | 'DEVICE_UNAVAILABLE'
  | 'INVALID_IMAGE'
  | 'REBUILD_REQUIRED'
  | 'BUILD_FAILED'
  | 'BUILD_TOOLS_MISSING'
  | 'ADDON_NOT_BUILT';

export class SdMaliError extends Error {
  readonly code: SdMaliErrorCode;
  constructor(code: SdMaliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** What a tvm-ffi runtime (TVM >= v0.22) tells besides the message. */
export interface TvmErrorDetails {
  /** The error's kind: 'ValueError', 'TypeError', 'RuntimeError', ... */
  kind?: string;
  /** The runtime's backtrace, innermost frame last ('' when it was built without one). */
  backtrace?: string;
}

/**
 * An error raised inside the TVM runtime; `message` is TVM's own text (with a tvm-ffi
 * runtime: '<kind>: <message>', its kind and backtrace in their own fields).
 */
export class TvmError extends SdMaliError {
  /** The tvm-ffi error kind; undefined for the legacy ABI, whose errors are text only. */
  readonly kind: string | undefined;
  readonly backtrace: string | undefined;
  constructor(message: string, details: TvmErrorDetails = {}) {
    super('TVM_ERROR', message);
    this.kind = details.kind;
    this.backtrace = details.backtrace;
  }
  /** The first line of TVM's message, without the traceback. */
  get summary(): string {
    const lines = this.message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    return lines.find((l) => /Error|Check failed/.test(l)) ?? lines[0] ?? this.message;
  }
}

/** A runtime object was used after `dispose()`. */
export class DisposedError extends SdMaliError {
  constructor(message: string) {
    super('DISPOSED', message);
  }
}

export interface RuntimeAttempt {
  /** Where the library was looked for (a path, or a bare name for the system search). */
  path: string;
  /** Which rule produced it: the option, an environment variable or the system search. */
  source: string;
  /** Why it could not be used. */
  reason: string;
}

/** No usable `libtvm_runtime.so` was found; lists every place tried. */
export class RuntimeNotFoundError extends SdMaliError {
  readonly attempts: readonly RuntimeAttempt[];
  constructor(attempts: readonly RuntimeAttempt[]) {
    const tried = attempts.map((a) => `  - ${a.path} (${a.source}): ${a.reason}`).join('\n');
    super(
      'RUNTIME_NOT_FOUND',
      `No TVM runtime library could be opened. Tried:\n${tried}\n` +
        'Build TVM with USE_OPENCL=ON and point sd-mali at it: set SD_MALI_TVM_RUNTIME=/path/to/libtvm_runtime.so ' +
        '(or TVM_LIBRARY_PATH=/path/to/tvm/build), or pass { tvmRuntime } / --runtime.',
    );
    this.attempts = attempts;
  }
}

/** The library is a TVM runtime (or not) whose C ABI sd-mali does not speak. */
export class UnsupportedAbiError extends SdMaliError {
  readonly abi: string;
  readonly libraryPath: string;
  constructor(libraryPath: string, abi: string, detail: string) {
    super('UNSUPPORTED_ABI', `${libraryPath}: ${detail}`);
    this.abi = abi;
    this.libraryPath = libraryPath;
  }
}

/**
 * A second, different TVM runtime file was asked for while one is loaded in this process
 * (say `tvmRuntime` in one load and `SD_MALI_TVM_RUNTIME` in another). It is refused
 * without being mapped: two runtimes in one process abort it.
 */
export class RuntimeConflictError extends SdMaliError {
  /** The runtime already loaded. */
  readonly loadedPath: string;
  /** The file that was refused. */
  readonly requestedPath: string;
  constructor(requestedPath: string, loadedPath: string) {
    super(
      'RUNTIME_CONFLICT',
      `cannot load the TVM runtime ${requestedPath}: another runtime file, ${loadedPath}, is already loaded in this process, ` +
        'and two TVM runtimes cannot share one process. Use the same file for every load (restart the process to switch).',
    );
    this.loadedPath = loadedPath;
    this.requestedPath = requestedPath;
  }
}

/** A file of the model directory is missing, damaged or not what the contract says. */
export class ArtifactError extends SdMaliError {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('ARTIFACT_ERROR', `${file}: ${message}`, options);
    this.file = file;
  }
}

/**
 * A model executable compiled by a TVM whose ABI differs from the runtime's (a v0.20
 * build given to a v0.22+ runtime, or the reverse): neither runs the other's files.
 */
export class AbiMismatchError extends ArtifactError {
  readonly executableAbi: 'legacy' | 'tvm-ffi';
  readonly runtimeAbi: 'legacy' | 'tvm-ffi';
  constructor(file: string, executableAbi: 'legacy' | 'tvm-ffi', runtimeAbi: 'legacy' | 'tvm-ffi', message: string) {
    super(file, message);
    this.executableAbi = executableAbi;
    this.runtimeAbi = runtimeAbi;
  }
}

export class TokenizerError extends SdMaliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOKENIZER_ERROR', message, options);
  }
}

/** Thrown when an AbortSignal fires; `name` is 'AbortError' like the DOM's. */
export class AbortError extends SdMaliError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
    this.name = 'AbortError';
  }
}

/** A bad argument to any layer (the library, lib/tvm, the schedulers, the native addon). */
export class InvalidArgumentError extends SdMaliError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/**
 * sd-mali's native addon is not there for this platform: no prebuilt binary matched and
 * none was built at install. `remedy` says how to build it.
 */
export class AddonNotBuiltError extends SdMaliError {
  /** `${process.platform}-${process.arch}`. */
  readonly platform: string;
  readonly remedy: string;
  constructor(platform: string, options?: { cause?: unknown }) {
    const remedy =
      'build it with python3, make and a C++17 compiler present: `npm rebuild sd-mali` ' +
      '(npm >= 11 holds install scripts until you run `npm install-scripts approve sd-mali`)';
    super('ADDON_NOT_BUILT', `sd-mali's native addon is not built for ${platform} (no prebuilt binary matched). To fix: ${remedy}`, options);
    this.platform = platform;
    this.remedy = remedy;
  }
}

/**
 * The device asked for is not there. For OpenCL, `reason` names the first thing in the way
 * (see diagnoseOpenCl: 'runtime-without-opencl', 'no-unversioned-loader', ...) and `remedy`
 * what to do about it.
 */
export class DeviceUnavailableError extends SdMaliError {
  readonly device: string;
  readonly reason: string;
  readonly remedy: string | undefined;
  constructor(device: string, reason: string, message: string, remedy?: string) {
    super('DEVICE_UNAVAILABLE', remedy ? `${message}. To fix: ${remedy}` : message);
    this.device = device;
    this.reason = reason;
    this.remedy = remedy;
  }
}

/** Why an input image (img2img's image or an inpainting mask) was refused. */
export type InvalidImageReason = 'not-an-image' | 'too-many-pixels' | 'too-many-bytes' | 'size-mismatch' | 'bad-raw-data' | 'unreadable';

/** An input image that cannot be used: not an image, too large, or a mask of another size. */
export class InvalidImageError extends SdMaliError {
  readonly reason: InvalidImageReason;
  constructor(reason: InvalidImageReason, message: string, options?: { cause?: unknown }) {
    super('INVALID_IMAGE', message, options);
    this.reason = reason;
  }
}

/**
 * The model directory lacks something this request needs that only a newer build writes
 * (img2img and inpainting need the VAE encoder, `vae_encode`): rebuild it with `sd-mali build`.
 */
export class RebuildRequiredError extends SdMaliError {
  readonly modelDir: string;
  /** What is missing: a function name. */
  readonly missing: string;
  constructor(modelDir: string, missing: string, purpose: string) {
    super(
      'REBUILD_REQUIRED',
      `${modelDir}: ${purpose} needs the function '${missing}', which this model directory was built without; ` +
        `rebuild the model with sd-mali build (it writes vae_encode, an unguided unet and sd-mali.json)`,
    );
    this.modelDir = modelDir;
    this.missing = missing;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AbortError(signal.reason instanceof Error ? signal.reason.message : 'The operation was aborted', {
      cause: signal.reason,
    });
  }
}
