/**
 * sd-mali.json, the manifest `sd-mali build` writes beside the executable (format 1). Its
 * presence marks a directory of sd-mali's own compile flow: guidance on the host, an
 * unguided UNet for batch 1 or 2, the image size the model was built for, a VAE encoder.
 * Directories without it (the RK3588 port's build) keep the old path.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArtifactError } from '../errors.js';
import { SD15_TRAINING, type BetaSchedule, type TrainingConfig } from '../schedulers/index.js';

// The file name and format version are the writer's (lib/build/manifest.ts): one home.
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION } from '../build/manifest.js';

export { MANIFEST_FILE, MANIFEST_FORMAT_VERSION };

export interface ManifestFunction {
  /** The weight group it takes (`<params>_0 …`), if any. */
  params?: string;
  inputs?: Array<{ name: string; shape: Array<number | string>; dtype: string }>;
  output?: { shape: Array<number | string>; dtype: string };
}

export interface ModelManifest {
  file: string;
  formatVersion: number;
  generator: string;
  tvmVersion: string;
  target: { name: string; deviceKind: string; host: string };
  executable: string;
  precision: 'float32' | 'float16';
  image: { width: number; height: number };
  latent: { channels: number; width: number; height: number };
  vaeScalingFactor: number;
  text: { maxLength: number; hiddenSize: number };
  guidance: 'host';
  unetBatchSizes: number[];
  functions: Record<string, ManifestFunction>;
  /** The training schedule from the manifest's scheduler config (SD 1.5's where it says nothing). */
  training: TrainingConfig;
  source?: { file: string; sha256: string; format: string };
  loras: Array<{ file: string; sha256?: string; scale: number; style?: string }>;
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

class ManifestReader {
  constructor(readonly file: string) {}

  fail(message: string): never {
    throw new ArtifactError(this.file, message);
  }

  object(parent: Json, key: string): Json {
    const v = parent[key];
    if (!isObject(v)) this.fail(`"${key}" must be an object, got ${JSON.stringify(v)}`);
    return v;
  }

  string(parent: Json, key: string, where = key): string {
    const v = parent[key];
    if (typeof v !== 'string' || v === '') this.fail(`"${where}" must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveInt(parent: Json, key: string, where = key): number {
    const v = parent[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(`"${where}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveNumber(parent: Json, key: string, where = key): number {
    const v = parent[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(`"${where}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** The training schedule of the model's scheduler config, defaulting each field to SD 1.5's. */
function trainingFrom(r: ManifestReader, config: unknown): TrainingConfig {
  if (config === undefined) return { ...SD15_TRAINING };
  if (!isObject(config)) r.fail(`"scheduler" must be an object, got ${JSON.stringify(config)}`);
  const num = (key: string, fallback: number): number => {
    const v = config[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) r.fail(`"scheduler.${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const schedule = config['beta_schedule'] ?? SD15_TRAINING.betaSchedule;
  if (schedule !== 'scaled_linear' && schedule !== 'linear') r.fail(`"scheduler.beta_schedule" ${JSON.stringify(schedule)} is not supported (scaled_linear or linear)`);
  const setAlphaToOne = config['set_alpha_to_one'] ?? SD15_TRAINING.setAlphaToOne;
  if (typeof setAlphaToOne !== 'boolean') r.fail(`"scheduler.set_alpha_to_one" must be a boolean`);
  const training: TrainingConfig = {
    numTrainTimesteps: num('num_train_timesteps', SD15_TRAINING.numTrainTimesteps),
    betaStart: num('beta_start', SD15_TRAINING.betaStart),
    betaEnd: num('beta_end', SD15_TRAINING.betaEnd),
    betaSchedule: schedule as BetaSchedule,
    stepsOffset: num('steps_offset', SD15_TRAINING.stepsOffset),
    setAlphaToOne,
  };
  const prediction = config['prediction_type'] ?? 'epsilon';
  if (prediction !== 'epsilon') r.fail(`"scheduler.prediction_type" is ${JSON.stringify(prediction)}: only epsilon-prediction models (SD 1.x) are supported`);
  return training;
}

export function parseManifest(file: string, text: string): ModelManifest {
  const r: ManifestReader = new ManifestReader(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ArtifactError(file, `is not valid JSON (${(err as Error).message}); rebuild the model with sd-mali build`, { cause: err });
  }
  if (!isObject(json)) r.fail('is not a JSON object');
  const formatVersion = json['formatVersion'];
  if (formatVersion !== MANIFEST_FORMAT_VERSION) {
    r.fail(`has formatVersion ${JSON.stringify(formatVersion)}; this sd-mali reads format ${MANIFEST_FORMAT_VERSION} (update sd-mali, or rebuild the model with this version's sd-mali build)`);
  }
  const target = r.object(json, 'target');
  const image = r.object(json, 'image');
  const latent = r.object(json, 'latent');
  const text_ = r.object(json, 'text');
  const precision = json['precision'];
  if (precision !== 'float32' && precision !== 'float16') r.fail(`"precision" must be float32 or float16, got ${JSON.stringify(precision)}`);
  const guidance = json['guidance'];
  if (guidance !== 'host') r.fail(`"guidance" must be "host" (the UNet returns unguided predictions), got ${JSON.stringify(guidance)}`);
  const batches = json['unetBatchSizes'];
  if (!Array.isArray(batches) || batches.length === 0 || !batches.every((b) => b === 1 || b === 2)) {
    r.fail(`"unetBatchSizes" must list 1 and/or 2, got ${JSON.stringify(batches)}`);
  }
  const functions = r.object(json, 'functions');
  for (const [name, f] of Object.entries(functions)) if (!isObject(f)) r.fail(`"functions.${name}" must be an object`);
  const manifest: ModelManifest = {
    file,
    formatVersion,
    generator: typeof json['generator'] === 'string' ? json['generator'] : 'unknown',
    tvmVersion: r.string(json, 'tvmVersion'),
    target: {
      name: r.string(target, 'name', 'target.name'),
      deviceKind: r.string(target, 'deviceKind', 'target.deviceKind'),
      host: typeof target['host'] === 'string' ? target['host'] : '',
    },
    executable: r.string(json, 'executable'),
    precision,
    image: { width: r.positiveInt(image, 'width', 'image.width'), height: r.positiveInt(image, 'height', 'image.height') },
    latent: {
      channels: r.positiveInt(latent, 'channels', 'latent.channels'),
      width: r.positiveInt(latent, 'width', 'latent.width'),
      height: r.positiveInt(latent, 'height', 'latent.height'),
    },
    vaeScalingFactor: r.positiveNumber(json, 'vaeScalingFactor'),
    text: { maxLength: r.positiveInt(text_, 'maxLength', 'text.maxLength'), hiddenSize: r.positiveInt(text_, 'hiddenSize', 'text.hiddenSize') },
    guidance,
    unetBatchSizes: batches as number[],
    functions: functions as Record<string, ManifestFunction>,
    training: trainingFrom(r, json['scheduler']),
    loras: Array.isArray(json['loras']) ? (json['loras'] as ModelManifest['loras']) : [],
  };
  if (isObject(json['source'])) manifest.source = json['source'] as ModelManifest['source'] & object;
  if (manifest.image.width % manifest.latent.width !== 0 || manifest.image.height % manifest.latent.height !== 0) {
    r.fail(`image ${manifest.image.width}x${manifest.image.height} is not a whole multiple of latent ${manifest.latent.width}x${manifest.latent.height}`);
  }
  return manifest;
}

/** The manifest of `dir`, or undefined for a directory of another compile flow. */
export async function readManifest(dir: string): Promise<ModelManifest | undefined> {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) return undefined;
  return parseManifest(file, await readFile(file, 'utf8'));
}
