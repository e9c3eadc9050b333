/**
 * vitest global set-up: compiles the tiny golden model with sd-mali's compile flow, once per
 * version of the flow (a hash of compiler/ and of the checkpoint names the cache folder),
 * two builds at a time. The suites find them through SD_MALI_TINY_MODELS.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from '../../lib/build/build.js';
import { findBuildPython } from '../../lib/build/find-python.js';
import { TINY_MODEL_VARIANTS, TINY_MODELS_MISSING_VARIABLE, TINY_MODELS_VARIABLE, TINY_SOURCE, tinyModelDirName } from './compiled-models.js';
import { REPO_ROOT } from './shared-data.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === '__pycache__' || e.name.endsWith('.egg-info') ? [] : filesUnder(p);
    return e.name.endsWith('.py') || e.name === 'pyproject.toml' ? [p] : [];
  });
}

function compilerKey(): string {
  const h = createHash('sha256');
  const compiler = join(REPO_ROOT, 'compiler');
  for (const f of filesUnder(compiler).sort()) h.update(relative(compiler, f)).update(readFileSync(f));
  const checkpoint = join(TINY_SOURCE, 'checkpoint.safetensors');
  h.update(String(statSync(checkpoint).size));
  return h.digest('hex').slice(0, 16);
}

export default async function setup(): Promise<void> {
  if (process.env[TINY_MODELS_VARIABLE]) return; // given from outside (a previous build)
  if (!existsSync(TINY_SOURCE)) {
    process.env[TINY_MODELS_MISSING_VARIABLE] = `the tiny golden model is missing at ${TINY_SOURCE}`;
    return;
  }
  let python;
  try {
    python = await findBuildPython(process.env['SD_MALI_BUILD_PYTHON'] ?? (existsSync(join(REPO_ROOT, '.venv-build/bin/python')) ? join(REPO_ROOT, '.venv-build/bin/python') : undefined));
  } catch (err) {
    process.env[TINY_MODELS_MISSING_VARIABLE] = `no Python with the compile flow: ${(err as Error).message.split('\n')[0]}`;
    return;
  }
  const root = join(REPO_ROOT, 'node_modules', '.cache', 'sd-mali-tiny-models', compilerKey());
  mkdirSync(root, { recursive: true });
  const pending = TINY_MODEL_VARIANTS.filter((v) => !existsSync(join(root, tinyModelDirName(v.target, v.dtype), 'sd-mali.json')));
  const failures: string[] = [];
  const started = Date.now();
  const one = async (v: (typeof TINY_MODEL_VARIANTS)[number]): Promise<void> => {
    const out = join(root, tinyModelDirName(v.target, v.dtype));
    const staging = `${out}.building`;
    rmSync(staging, { recursive: true, force: true });
    try {
      await build(join(TINY_SOURCE, 'checkpoint.safetensors'), { out: staging, target: v.target, dtype: v.dtype, config: join(TINY_SOURCE, 'diffusers'), python: python.python });
      renameSync(staging, out);
    } catch (err) {
      failures.push(`${tinyModelDirName(v.target, v.dtype)}: ${(err as Error).message}`);
    }
  };
  for (let i = 0; i < pending.length; i += 2) await Promise.all(pending.slice(i, i + 2).map(one));
  if (pending.length > 0) process.stderr.write(`built ${pending.length} tiny model(s) in ${((Date.now() - started) / 1000).toFixed(0)} s into ${root}\n`);
  if (failures.length > 0) process.env[TINY_MODELS_MISSING_VARIABLE] = `the compile flow failed: ${failures.join('; ')}`;
  process.env[TINY_MODELS_VARIABLE] = root;
}
