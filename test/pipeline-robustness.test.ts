// Issue 15: what the pipeline must refuse or survive (stand-in model, cpu). Each test is
// named after the defect it proves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, StableDiffusion } from '../lib/index.js';
import { sharedData, testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = sharedData('fixtures/standin-tvm0.20', 'the stand-in model');
const tokenizerFiles = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = {
  available: runtimeInfo.available && standin.available && tokenizerFiles.available,
  reason: runtimeInfo.reason || standin.reason || tokenizerFiles.reason,
  path: '',
};
const base = { tvmRuntime: runtimeInfo.path, tokenizer: tokenizerFiles.path, device: 'cpu' };

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
});
