import { DisposedError, InvalidArgumentError } from '../errors.js';
import { typedArrayCtorFor, type AnyTypedArray, type DType } from './dtype.js';
import type { NativeNDArray } from './native.js';
import type { Device } from './device-handle.js';

/**
 * An n-dimensional array in TVM's memory, on the CPU or a GPU. Copies run on the runtime's
 * worker thread and return Promises; shape, dtype, byteLength and disposed never wait.
 */
export class NDArray implements Disposable {
  /** @internal */
  readonly native: NativeNDArray;
  readonly device: Device;

  /** @internal Use `runtime.emptyAsync()`. */
  constructor(native: NativeNDArray, device: Device) {
    this.native = native;
    this.device = device;
  }

  get shape(): readonly number[] {
    return this.native.shape;
  }

  get dtype(): DType {
    return this.native.dtype as DType;
  }

  get byteLength(): number {
    return this.native.byteLength;
  }

  get size(): number {
    return this.native.shape.reduce((a, b) => a * b, 1);
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  #checkSource(source: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): ArrayBufferView | ArrayBuffer {
    if (this.native.disposed) throw new DisposedError('this NDArray was disposed and can no longer be used');
    if (source instanceof SharedArrayBuffer) return new Uint8Array(source);
    if (ArrayBuffer.isView(source) && !(source instanceof DataView) && !(source instanceof Uint8Array)) {
      const expected = typedArrayCtorFor(this.dtype);
      if (expected && !(source instanceof expected)) {
        throw new InvalidArgumentError(
          `copyFromAsync: a ${source.constructor.name} cannot fill a ${this.dtype} NDArray (expected ${expected.name} or raw bytes)`,
        );
      }
    }
    return source;
  }

  /**
   * Copies host data in, on the runtime's worker thread: the event loop does not wait, also
   * not behind a long model call queued before it. Runs in order with the runtime's other
   * calls. A TypedArray must be the dtype's own kind (Float32Array for float32, Uint16Array
   * holding the bits of float16/bfloat16, ...); a Buffer, Uint8Array, DataView, ArrayBuffer
   * or SharedArrayBuffer is taken as raw bytes (views on a SharedArrayBuffer work like any
   * other). The byte length must match exactly. `source` is held until the promise
   * settles; do not write to it (nor transfer it) before.
   */
  async copyFromAsync(source: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): Promise<this> {
    const view = this.#checkSource(source);
    await this.native.copyFromAsync(view);
    return this;
  }

  /** Copies the array to the host as the TypedArray of its dtype, on the runtime's worker thread. */
  async toTypedArrayAsync(): Promise<AnyTypedArray> {
    return this.native.copyToAsync(this.#hostArray('toTypedArrayAsync'));
  }

  /** toTypedArrayAsync for a float32 array; fails for other dtypes. */
  async toFloat32ArrayAsync(): Promise<Float32Array> {
    if (this.dtype !== 'float32') throw new InvalidArgumentError(`toFloat32ArrayAsync: the NDArray is ${this.dtype}`);
    return (await this.toTypedArrayAsync()) as Float32Array;
  }

  #hostArray(what: string): AnyTypedArray {
    const Ctor = typedArrayCtorFor(this.dtype);
    if (!Ctor) throw new InvalidArgumentError(`${what}: dtype ${this.dtype} has no TypedArray`);
    if (this.native.disposed) throw new DisposedError('this NDArray was disposed and can no longer be used');
    return new Ctor(this.byteLength / Ctor.BYTES_PER_ELEMENT);
  }

  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return this.disposed ? 'NDArray(disposed)' : `NDArray(${this.dtype}[${this.shape.join(',')}] on ${this.device})`;
  }
}
