// Issue 15: what the pipeline must refuse or survive (stand-in model, cpu). Each test is
// named after the defect it proves.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactError, InvalidArgumentError, StableDiffusion } from '../lib/index.js';
import { buildBrokenExecutable, type BrokenOutput } from './support/c-libraries.js';
import { makeModelDir } from './support/model-dirs.js';
import { sharedData, testRuntime, titled } from './support/shared-data.js';
import { TEST_LOAD_OPTIONS } from './support/devices.js';

const runtimeInfo = testRuntime();
const standin = sharedData('fixtures/standin-tvm0.20', 'the stand-in model');
const tokenizerFiles = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = {
  available: runtimeInfo.available && standin.available && tokenizerFiles.available,
  reason: runtimeInfo.reason || standin.reason || tokenizerFiles.reason,
  path: '',
};
const base = { ...TEST_LOAD_OPTIONS, tvmRuntime: runtimeInfo.path, tokenizer: tokenizerFiles.path, device: 'cpu' };

describe.skipIf(!ready.available)(titled('pipeline robustness (issue 15)', ready), () => {
  let pipe: StableDiffusion;
  beforeAll(async () => {
    pipe = await StableDiffusion.load(standin.path, base);
  });
  afterAll(() => pipe?.dispose());

  describe('item 2: token ids outside the vocabulary never reach the model', () => {
    const padded = (id: number): number[] => {
      const ids = pipe.tokenizer.encodePadded('a fox');
      return Array.from(ids, (v, i) => (i === 3 ? id : v));
    };

    for (const bad of [49408, 60000, -1, 1.5, Number.NaN, 2_000_000]) {
      it(`refuses id ${bad} with InvalidArgumentError naming its position`, async () => {
        const good = Array.from(pipe.tokenizer.encodePadded(''));
        const run = pipe.generateFromIds({ prompt: padded(bad), negative: good }, { steps: 1, seed: 1 });
        await expect(run).rejects.toThrow(InvalidArgumentError);
        await expect(pipe.generateFromIds({ prompt: good, negative: padded(bad) }, { steps: 1, seed: 1 })).rejects.toThrow(
          new RegExp(`negative ids\\[3\\] is ${String(bad)}: token ids must be integers from 0 to 49407`),
        );
      });
    }

    it('refuses an Int32Array holding an out-of-range id, and still accepts the last id of the vocabulary', async () => {
      const ids = pipe.tokenizer.encodePadded('a fox');
      const bad = Int32Array.from(ids);
      bad[5] = 49408;
      await expect(pipe.generateFromIds({ prompt: bad, negative: ids }, { steps: 1, seed: 1 })).rejects.toThrow(/prompt ids\[5\] is 49408/);
      const edge = Int32Array.from(ids);
      edge[5] = 49407;
      await expect(pipe.generateFromIds({ prompt: edge, negative: ids }, { steps: 1, seed: 1 })).resolves.toBeDefined();
    });
  });

  describe('item 9: the result of each entry function is checked against the artifact contract', () => {
    const cases: Array<[BrokenOutput, RegExp]> = [
      ['UNET_NONE', /entry function 'unet' returned None; the artifact contract says an NDArray float32\[batch,4,64,64\]/],
      ['RGBA_3D', /entry function 'image_to_rgba' returned an NDArray uint32\[1,512,512\]; the artifact contract says an NDArray uint32\[height,width\]/],
      ['VAE_DTYPE', /entry function 'vae' returned an NDArray int32\[1,512,512,3\]/],
      ['CLIP_SHAPE', /entry function 'clip' returned an NDArray float32\[1,76,768\]; the artifact contract says an NDArray float32\[1,77,hidden\]/],
    ];
    for (const [broken, message] of cases) {
      it(`${broken}: generate rejects with an ArtifactError naming the function and what it returned`, async () => {
        const dir = makeModelDir(standin.path, { executables: {} });
        const exe = join(dir, 'stable_diffusion_cpu.so');
        buildBrokenExecutable(exe, broken);
        const bad = await StableDiffusion.load(dir, base);
        try {
          const error: unknown = await bad.generate('a fox', { steps: 1, seed: 1 }).then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(error).toBeInstanceOf(ArtifactError);
          expect((error as ArtifactError).message).toMatch(message);
          expect(error).toMatchObject({ file: exe, code: 'ARTIFACT_ERROR' });
        } finally {
          bad.dispose();
        }
      });
    }
  });
});
