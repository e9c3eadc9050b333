import type { NativeObject } from './native.js';

/** Any other TVM object (a runtime.Array of weights, a VM closure, ...). */
export class TvmObject implements Disposable {
  /** @internal */
  readonly native: NativeObject;

  /** @internal */
  constructor(native: NativeObject) {
    this.native = native;
  }

  /** TVM's type key, e.g. 'Array' or 'runtime.Array'. */
  get typeKey(): string {
    return this.native.typeKey;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
