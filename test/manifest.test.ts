// sd-mali.json: the manifest sd-mali build writes (format 1, /work/helpers/MANIFEST.md's
// contract), read from a real build when one is at hand, and refused with the file and the
// field named when it is not what the pipeline can use.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactError } from '../lib/errors.js';
import { parseManifest, readManifest } from '../lib/pipeline/manifest.js';
import { titled } from './support/shared-data.js';
import { tinyModel } from './support/compiled-models.js';

const built = tinyModel('cpu', 'float32');

/** A manifest with every key the contract says is always there. */
function minimal(): Record<string, unknown> {
  return {
    formatVersion: 1,
    generator: 'sd-mali-build 0.1.0',
    tvmVersion: '0.26.0',
    target: { name: 'opencl', deviceKind: 'opencl', host: 'x86_64-linux-gnu' },
    executable: 'stable_diffusion_opencl.so',
    precision: 'float16',
    image: { width: 512, height: 768 },
    latent: { channels: 4, width: 64, height: 96 },
    vaeScalingFactor: 0.18215,
    text: { maxLength: 77, hiddenSize: 768 },
    guidance: 'host',
    unetBatchSizes: [1, 2],
    functions: { clip: { params: 'clip' }, unet: { params: 'unet' }, vae: { params: 'vae' }, vae_encode: { params: 'vaeEncode' } },
    scheduler: { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon', steps_offset: 1, set_alpha_to_one: false },
    loras: [],
  };
}

describe.skipIf(!built.available)(titled('the manifest of tiny-sd-a built by sd-mali build', built), () => {
  it('reads its size, precision, target and functions', async () => {
    const m = (await readManifest(built.path))!;
    expect(m).toMatchObject({ formatVersion: 1, tvmVersion: '0.26.0', precision: 'float32', image: { width: 128, height: 128 }, latent: { channels: 4, width: 16, height: 16 }, guidance: 'host' });
    expect(m.text.hiddenSize).toBe(32);
    expect(m.functions['vae_encode']?.params).toBe('vaeEncode');
    expect(m.training).toMatchObject({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', stepsOffset: 1 });
  });
});

describe('sd-mali.json', () => {
  it('is absent from a directory of another compile flow: undefined, the old path', async () => {
    expect(await readManifest(mkdtempSync(join(tmpdir(), 'sd-mali-nomanifest-')))).toBeUndefined();
  });

  it('reads a non-square model and the training schedule', () => {
    const m = parseManifest('/x/sd-mali.json', JSON.stringify(minimal()));
    expect(m.image).toEqual({ width: 512, height: 768 });
    expect(m.latent).toEqual({ channels: 4, width: 64, height: 96 });
    expect(m.training.setAlphaToOne).toBe(false);
  });

  it('refuses what it cannot run, naming the file and the field', () => {
    const bad = (edit: (m: Record<string, unknown>) => void): unknown => {
      const m = minimal();
      edit(m);
      try {
        parseManifest('/x/sd-mali.json', JSON.stringify(m));
      } catch (err) {
        return err;
      }
      return undefined;
    };
    expect(bad((m) => (m['formatVersion'] = 2))).toMatchObject({ message: expect.stringMatching(/^\/x\/sd-mali\.json: has formatVersion 2; this sd-mali reads format 1/) });
    expect(bad((m) => (m['precision'] = 'int8'))).toMatchObject({ message: expect.stringMatching(/"precision" must be float32 or float16/) });
    expect(bad((m) => (m['guidance'] = 'baked'))).toMatchObject({ message: expect.stringMatching(/"guidance" must be "host"/) });
    expect(bad((m) => (m['unetBatchSizes'] = [4]))).toMatchObject({ message: expect.stringMatching(/unetBatchSizes/) });
    expect(bad((m) => ((m['image'] as Record<string, number>)['width'] = 0))).toMatchObject({ message: expect.stringMatching(/"image.width" must be a positive integer/) });
    expect(bad((m) => ((m['image'] as Record<string, number>)['width'] = 500))).toMatchObject({ message: expect.stringMatching(/not a whole multiple of latent/) });
    expect(bad((m) => ((m['scheduler'] as Record<string, string>)['prediction_type'] = 'v_prediction'))).toMatchObject({ message: expect.stringMatching(/only epsilon-prediction models/) });
    expect(bad((m) => delete m['target'])).toBeInstanceOf(ArtifactError);
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-badmanifest-'));
    writeFileSync(join(dir, 'sd-mali.json'), '{"formatVersion": 1,');
    return expect(readManifest(dir)).rejects.toThrow(/is not valid JSON .* rebuild the model with sd-mali build/);
  });

  it('keeps the file it read', () => {
    expect(parseManifest('/x/sd-mali.json', JSON.stringify(minimal())).file).toBe('/x/sd-mali.json');
  });
});
