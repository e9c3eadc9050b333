// Issue 15, item 5 (and issue 22): all pipelines on one runtime share its worker thread, so a
// call that waits for it on the JavaScript thread would block the event loop behind another
// caller's UNet step. Proved structurally: every method of the native classes (except
// dispose) returns a Promise at once and settles only after the call queued before it, so
// there is no synchronous way to wait; and two pipelines on one runtime still give the
// right image.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StableDiffusion } from '../lib/index.js';
import * as tvm from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { maxByteDifference, promptCases } from './support/references.js';
import { standinSuite, titled } from './support/shared-data.js';
import { TEST_LOAD_OPTIONS } from './support/devices.js';

const { runtime: runtimeInfo, standin, tokenizer: tokenizerFiles, ready } = standinSuite();
const base = { ...TEST_LOAD_OPTIONS, tvmRuntime: runtimeInfo.path, tokenizer: tokenizerFiles.path, device: 'cpu' };

describe.skipIf(!runtimeInfo.available)(titled('the runtime has no synchronous call that waits for its worker thread', runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  let lib: tvm.Module;
  let libraryPath: string;
  beforeAll(async () => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    libraryPath = buildPackedFuncsLibrary(runtimeInfo.abi);
    lib = await rt.loadModuleAsync(libraryPath);
  });
  afterAll(() => lib?.dispose());

  it('every native method but dispose returns a Promise that settles after the call queued before it', async () => {
    const shard = join(mkdtempSync(join(tmpdir(), 'sd-mali-async-path-')), 'shard.bin');
    writeFileSync(shard, Buffer.from(new Float32Array([2.5]).buffer));
    const array = await rt.emptyAsync([1], 'float32');
    const greet = await lib.getFunctionAsync('greet');
    // Valid arguments for each method: what a caller would queue.
    const calls: Record<string, Record<string, () => unknown>> = {
      NativeRuntime: {
        prepareDeviceAsync: () => rt.native.prepareDeviceAsync(1, 0),
        syncAsync: () => rt.native.syncAsync(1, 0),
        loadModuleAsync: () => rt.native.loadModuleAsync(libraryPath),
        getGlobalAsync: () => rt.native.getGlobalAsync('runtime.GetDeviceAttr'),
        listGlobalNamesAsync: () => rt.native.listGlobalNamesAsync(),
        emptyAsync: () => rt.native.emptyAsync([1], 'float32', 1, 0),
        loadWeightShard: () => rt.native.loadWeightShard(shard, 4, [{ shape: [1], dtype: 'float32', bf16: false, byteOffset: 0, nbytes: 4 }], 1, 0, new Int32Array(1), null),
      },
      NativeNDArray: {
        copyFromAsync: () => array.native.copyFromAsync(new Float32Array(1)),
        copyToAsync: () => array.native.copyToAsync(new Float32Array(1)),
      },
      NativeModule: { getFunctionAsync: () => lib.native.getFunctionAsync('add_f32') },
      NativePackedFunction: { callAsync: () => greet.native.callAsync(['Mali']) },
      NativeObject: {},
    };
    const b = nativeBinding();
    const classes = { NativeRuntime: b.NativeRuntime, NativeNDArray: b.NativeNDArray, NativeModule: b.NativeModule, NativePackedFunction: b.NativePackedFunction, NativeObject: b.NativeObject };
    const sleep = await lib.getFunctionAsync('sleep_ms');
    for (const [name, cls] of Object.entries(classes)) {
      const methods = Object.entries(Object.getOwnPropertyDescriptors(cls.prototype))
        .filter(([key, d]) => typeof d.value === 'function' && key !== 'constructor' && key !== 'dispose')
        .map(([key]) => key)
        .sort();
      // A method added without an entry here (a synchronous one, say) fails this line.
      expect(methods, name).toEqual(Object.keys(calls[name]!).sort());
      for (const method of methods) {
        let busyDone = false;
        const busy = sleep.callAsync(tvm.int(30)).then(() => (busyDone = true));
        const result = calls[name]![method]!();
        expect(result, `${name}.${method}`).toBeInstanceOf(Promise);
        await (result as Promise<unknown>).then(() => expect(busyDone, `${name}.${method} settled before the call queued ahead of it`).toBe(true));
        await busy;
      }
    }
    array.dispose();
    greet.dispose();
    sleep.dispose();
  });
});

describe.skipIf(!ready.available)(titled('two pipelines on one runtime (issue 15, item 5)', ready), () => {
  it('load and generate at once, and the image is right', async () => {
    const c = promptCases(standin.path)[0]!;
    const [a, b] = await Promise.all([StableDiffusion.load(standin.path, base), StableDiffusion.load(standin.path, base)]);
    const [imageA, imageB] = await Promise.all([
      a.generate(c.prompt, { negativePrompt: c.negativePrompt, steps: c.steps, seed: c.seed }),
      b.generate(c.prompt, { negativePrompt: c.negativePrompt, steps: 3, seed: 1, scheduler: 'euler-a' }),
    ]);
    await b.generateFromIds({ prompt: b.tokenizer.encodePadded('x'), negative: b.tokenizer.encodePadded('') }, { steps: 2, seed: 2 });
    a.dispose();
    b.dispose();
    expect(maxByteDifference(imageA.rgba, c.rgba('cpu'))).toBeLessThanOrEqual(1);
    expect(imageB.width).toBe(512);
  });
});
