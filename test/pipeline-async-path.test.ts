// Issue 15, item 5: all pipelines on one runtime share its worker thread, so a synchronous
// call (copyFrom, copyTo, empty, call, ...) on one pipeline's path blocked the event loop
// behind the other's UNet call. Proved structurally: every synchronous native method is
// wrapped, and loading plus generating (on two pipelines sharing the runtime) may call none.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StableDiffusion } from '../lib/index.js';
import * as tvm from '../lib/tvm/index.js';
import { maxByteDifference, promptCases } from './support/references.js';
import { sharedData, testRuntime, titled, testStandin } from './support/shared-data.js';
import { TEST_LOAD_OPTIONS } from './support/devices.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const tokenizerFiles = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = {
  available: runtimeInfo.available && standin.available && tokenizerFiles.available,
  reason: runtimeInfo.reason || standin.reason || tokenizerFiles.reason,
  path: '',
};
const base = { ...TEST_LOAD_OPTIONS, tvmRuntime: runtimeInfo.path, tokenizer: tokenizerFiles.path, device: 'cpu' };

/**
 * The methods of the low-level API that make the calling thread wait for the runtime's
 * worker thread: each is the one place its synchronous native method is called from (the
 * native prototypes themselves are read-only).
 */
const SYNCHRONOUS: Array<[string, { prototype: object }, string[]]> = [
  ['NDArray', tvm.NDArray, ['copyFrom', 'toTypedArray']],
  ['Module', tvm.Module, ['findFunction']],
  ['PackedFunction', tvm.PackedFunction, ['call']],
  ['TvmRuntime', tvm.TvmRuntime, ['loadModule', 'findGlobalFunction', 'listGlobalFunctions', 'empty', 'sync']],
  ['Device', tvm.Device, ['sync']],
];

/** Wraps every synchronous method to record its calls; returns the undo. */
function recordSynchronousCalls(log: string[]): () => void {
  const undo: Array<() => void> = [];
  for (const [cls, ctor, methods] of SYNCHRONOUS) {
    const proto = ctor.prototype as Record<string, (...args: unknown[]) => unknown>;
    for (const method of methods) {
      const original = proto[method]!;
      proto[method] = function (this: unknown, ...args: unknown[]) {
        log.push(`${cls}.${method}`);
        return original.apply(this, args);
      };
      undo.push(() => (proto[method] = original));
    }
  }
  return () => undo.forEach((u) => u());
}

describe.skipIf(!ready.available)(titled('the pipeline never waits synchronously for the worker thread (issue 15, item 5)', ready), () => {
  let log: string[];
  let restore: () => void;
  beforeEach(() => {
    // The runtime is opened (synchronously, by dlopen, not on the worker) before recording.
    tvm.loadRuntime({ library: runtimeInfo.path });
    log = [];
    restore = recordSynchronousCalls(log);
  });
  afterEach(() => restore());

  it('load and generate of two pipelines on one runtime make no synchronous runtime call, and the image is right', async () => {
    const c = promptCases(standin.path)[0]!;
    const [a, b] = await Promise.all([StableDiffusion.load(standin.path, base), StableDiffusion.load(standin.path, base)]);
    const [imageA, imageB] = await Promise.all([
      a.generate(c.prompt, { negativePrompt: c.negativePrompt, steps: c.steps, seed: c.seed }),
      b.generate(c.prompt, { negativePrompt: c.negativePrompt, steps: 3, seed: 1, scheduler: 'euler-a' }),
    ]);
    await b.generateFromIds({ prompt: b.tokenizer.encodePadded('x'), negative: b.tokenizer.encodePadded('') }, { steps: 2, seed: 2 });
    a.dispose();
    b.dispose();
    expect(log).toEqual([]);
    expect(maxByteDifference(imageA.rgba, c.rgba('cpu'))).toBeLessThanOrEqual(1);
    expect(imageB.width).toBe(512);
  });

  it('a warmup load makes no synchronous runtime call either', async () => {
    const pipe = await StableDiffusion.load(standin.path, { ...base, warmup: true });
    pipe.dispose();
    expect(log).toEqual([]);
  });
});
