import { TvmError } from '../errors.js';
import type { NativeModule } from './native.js';
import type { PackedFunction } from './packed-function.js';
import type { TvmRuntime } from './runtime.js';

/** A loaded TVM module (a compiled library, a Relax VM, ...). */
export class Module implements Disposable {
  /** @internal */
  readonly native: NativeModule;
  readonly #runtime: TvmRuntime;

  /** @internal */
  constructor(runtime: TvmRuntime, native: NativeModule) {
    this.#runtime = runtime;
    this.native = native;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * The function `name`, looked up in this module and, unless `queryImports` is false, in
   * the modules it imports (where TVM keeps a library's OpenCL kernels), on the runtime's
   * worker thread. Undefined when absent.
   */
  async findFunctionAsync(name: string, queryImports = true): Promise<PackedFunction | undefined> {
    const native = await this.native.getFunctionAsync(name, queryImports);
    return native === null ? undefined : this.#runtime.wrapFunction(native, name);
  }

  /** Like findFunctionAsync, but a missing function is a TvmError. */
  async getFunctionAsync(name: string, queryImports = true): Promise<PackedFunction> {
    const fn = await this.findFunctionAsync(name, queryImports);
    if (!fn) throw new TvmError(`function '${name}' is not defined in this module`);
    return fn;
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
