import { Device } from './device-handle.js';
import { NDArray } from './ndarray.js';
import type { NativePackedFunction, NativeRet } from './native.js';
import type { TvmDataType, TvmFloat, TvmInt } from './scalars.js';
import type { TvmRuntime } from './runtime.js';
import { Module } from './module.js';
import { TvmObject } from './object.js';

/** What a packed function takes. Plain numbers are refused: use tvm.int() / tvm.float(). */
export type TvmArg =
  | NDArray
  | Module
  | PackedFunction
  | TvmObject
  | Device
  | TvmInt
  | TvmFloat
  | TvmDataType
  | Uint8Array
  | string
  | bigint
  | boolean
  | null
  | undefined;

/** What a packed function returns. Ints beyond 2^53 come back as bigint. */
export type TvmValue = NDArray | Module | PackedFunction | TvmObject | Device | Uint8Array | string | number | bigint | boolean | null;

/** A TVM packed function: a compiled kernel, a VM entry point or a global function. */
export class PackedFunction implements Disposable {
  /** @internal */
  readonly native: NativePackedFunction;
  readonly name: string;
  readonly #runtime: TvmRuntime;

  /** @internal */
  constructor(runtime: TvmRuntime, native: NativePackedFunction, name: string) {
    this.#runtime = runtime;
    this.native = native;
    this.name = name;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Calls on the runtime's worker thread without blocking the event loop. Calls into one
   * runtime run one at a time, in the order they were made.
   */
  async callAsync(...args: TvmArg[]): Promise<TvmValue> {
    const native = this.native.callAsync(args.map(toNativeArg));
    return this.#runtime.wrap(await native, this.name);
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function toNativeArg(arg: TvmArg): unknown {
  if (arg instanceof NDArray || arg instanceof Module || arg instanceof PackedFunction || arg instanceof TvmObject) {
    return arg.native;
  }
  if (arg instanceof Device) return arg.toArg();
  return arg;
}

export type { NativeRet };
