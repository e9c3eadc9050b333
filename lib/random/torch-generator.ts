/**
 * torch.manual_seed(seed); torch.randn(shape) on the CPU, reproduced. Two paths, as in
 * ATen's normal_kernel:
 *  - numel >= 16 (float32, contiguous): all uniforms first, then Box-Muller in blocks of
 *    16 in float32 (normal_fill_16_AVX2); a tail that is not a multiple of 16 recomputes
 *    the last 16 outputs from 16 fresh uniforms;
 *  - numel < 16: normal_distribution<double>, one Box-Muller pair per two values, the
 *    second value cached in the generator (and kept across calls, as torch does).
 */
import { InvalidArgumentError } from '../errors.js';
import { forEachPaced, Pacer } from '../event-loop-pacer.js';
import { Mt19937 } from './mt19937.js';
import { logF32, sincosF32 } from './avx-mathfun.js';

const f = Math.fround;
const TWO_PI_F32 = f(2 * Math.PI);
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
export const TORCH_SEED_MIN = -(2n ** 63n);
export const TORCH_SEED_MAX = 2n ** 64n - 1n;

export class TorchGenerator {
  readonly #engine: Mt19937;
  readonly seed: bigint;
  #nextDoubleNormal: number | undefined;

  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) throw new RangeError(`seed ${seed} is not a safe integer; pass a bigint`);
    const big = typeof seed === 'bigint' ? seed : BigInt(seed);
    // torch.manual_seed takes int64 or uint64 and refuses the rest ("Overflow when unpacking long").
    if (big < TORCH_SEED_MIN || big > TORCH_SEED_MAX) {
      throw new InvalidArgumentError(`seed ${big} is outside torch's range ${TORCH_SEED_MIN} … ${TORCH_SEED_MAX}`);
    }
    // torch takes the seed as uint64 (negative values wrap) and seeds mt19937 with its low 32 bits.
    this.seed = BigInt.asUintN(64, big);
    this.#engine = new Mt19937(Number(this.seed & 0xffffffffn));
  }

  /** A uniform float32 in [0, 1): 24 random bits. */
  #uniformF32(): number {
    return (this.#engine.nextUint32() & 0xffffff) * TWO_POW_M24;
  }

  /** A uniform double in [0, 1): 53 bits of random64() (first draw is the high word). */
  #uniformF64(): number {
    const hi = this.#engine.nextUint32();
    const lo = this.#engine.nextUint32();
    // (hi << 32 | lo) & (2^53 - 1) = (hi & 0x1fffff) * 2^32 + lo, exact in a double.
    return ((hi & 0x1fffff) * 0x100000000 + lo) * TWO_POW_M53;
  }

  #normalF64(): number {
    if (this.#nextDoubleNormal !== undefined) {
      const cached = this.#nextDoubleNormal;
      this.#nextDoubleNormal = undefined;
      return cached;
    }
    const u1 = this.#uniformF64();
    const u2 = this.#uniformF64();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.#nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Box-Muller on 16 uniforms in place: data[j], data[j+8] from u1 = 1 - data[j], u2 = data[j+8]. */
  static #fill16(data: Float32Array, at: number): void {
    for (let j = 0; j < 8; j++) {
      const u1 = f(1 - data[at + j]!);
      const u2 = data[at + j + 8]!;
      const radius = f(Math.sqrt(f(-2 * logF32(u1))));
      const theta = f(TWO_PI_F32 * u2);
      const [s, c] = sincosF32(theta);
      data[at + j] = f(radius * c);
      data[at + j + 8] = f(radius * s);
    }
  }

  /** Standard normal float32 samples, like torch.randn(shape, generator=this). */
  randn(shape: readonly number[] | number): Float32Array {
    const out = new Float32Array(sizeOf(shape));
    if (out.length < 16) return this.#smallRandn(out);
    this.#uniforms(out, 0, out.length);
    this.#boxMuller(out, 0, out.length >> 4);
    this.#tail(out);
    return out;
  }

  /**
   * randn in slices of the event loop, the same numbers: [1,4,64,64] takes 2.6 ms once V8
   * has optimised it, but 20-25 ms (collections included) the first time, in a process's
   * first generate.
   */
  async randnAsync(shape: readonly number[] | number, pacer: Pacer = new Pacer()): Promise<Float32Array> {
    const out = new Float32Array(sizeOf(shape));
    if (out.length < 16) return this.#smallRandn(out);
    const chunks = Math.ceil(out.length / RANDN_CHUNK);
    await forEachPaced(chunks, (c) => this.#uniforms(out, c * RANDN_CHUNK, Math.min(out.length, (c + 1) * RANDN_CHUNK)), pacer);
    const blocks = out.length >> 4;
    const blockChunks = Math.ceil(blocks / (RANDN_CHUNK >> 4));
    await forEachPaced(blockChunks, (c) => this.#boxMuller(out, c * (RANDN_CHUNK >> 4), Math.min(blocks, (c + 1) * (RANDN_CHUNK >> 4))), pacer);
    this.#tail(out);
    return out;
  }

  #smallRandn(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.#normalF64();
    return out;
  }

  /** out[from..to) = uniforms, drawn in order. */
  #uniforms(out: Float32Array, from: number, to: number): void {
    for (let i = from; i < to; i++) out[i] = this.#uniformF32();
  }

  /** Box-Muller over the 16-value blocks fromBlock..toBlock-1. */
  #boxMuller(out: Float32Array, fromBlock: number, toBlock: number): void {
    for (let b = fromBlock; b < toBlock; b++) TorchGenerator.#fill16(out, b * 16);
  }

  /** A size that is not a multiple of 16: the last 16 outputs again, from 16 fresh uniforms. */
  #tail(out: Float32Array): void {
    if (out.length % 16 === 0) return;
    const at = out.length - 16;
    for (let i = 0; i < 16; i++) out[at + i] = this.#uniformF32();
    TorchGenerator.#fill16(out, at);
  }
}

/** Values per slice step of randnAsync (a multiple of 16). */
const RANDN_CHUNK = 1024;

function sizeOf(shape: readonly number[] | number): number {
  const dims = typeof shape === 'number' ? [shape] : shape;
  for (const d of dims) if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`randn: bad dimension ${d}`);
  return dims.reduce((a, b) => a * b, 1);
}

/** A generator in the state torch.manual_seed(seed) leaves the default CPU generator in. */
export function createGenerator(seed: number | bigint): TorchGenerator {
  return new TorchGenerator(seed);
}
