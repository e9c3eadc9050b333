/** The stand-in model's reference generations (TVM's Python runtime, the seed's flow). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readF32 } from './golden.js';

export interface PromptCase {
  name: string;
  prompt: string;
  negativePrompt: string;
  seed: bigint;
  steps: number;
  latents: Float32Array;
  rgba(device: string): Uint8Array;
  finalLatents(device: string): Float32Array;
}

export interface IdsCase {
  name: string;
  scheduler: 'pndm' | 'dpm';
  /** Model calls of the compiled run (PNDM: 51 for 50 steps). */
  calls: number;
  negativeIds: number[];
  promptIds: number[];
  latents: Float32Array;
  rgba(device: string): Uint8Array;
  finalLatents(device: string): Float32Array;
}

const bytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

export function promptCases(standin: string): PromptCase[] {
  const root = join(standin, 'reference-prompts');
  const index = JSON.parse(readFileSync(join(root, 'cases.json'), 'utf8')) as {
    cases: Array<{ name: string; case: string; outputs: Record<string, { rgba: string; final_latents: string }> }>;
  };
  return index.cases.map((c) => {
    const meta = JSON.parse(readFileSync(join(root, c.case), 'utf8')) as { prompt: string; negative_prompt: string; seed: string; steps: number };
    const out = (device: string): { rgba: string; final_latents: string } => c.outputs[device]!;
    return {
      name: c.name,
      prompt: meta.prompt,
      negativePrompt: meta.negative_prompt,
      seed: BigInt(meta.seed),
      steps: meta.steps,
      latents: readF32(join(root, c.name, 'latents.bin')),
      rgba: (device) => bytes(join(root, c.name, out(device).rgba)),
      finalLatents: (device) => readF32(join(root, c.name, out(device).final_latents)),
    };
  });
}

export function idsCases(standin: string): IdsCase[] {
  const root = join(standin, 'reference');
  const index = JSON.parse(readFileSync(join(root, 'cases.json'), 'utf8')) as {
    cases: Array<{
      name: string;
      scheduler: string;
      inputs: { ids: string; latents: string };
      runs: Record<string, { num_steps: number; outputs: Record<string, { file: string }> }>;
    }>;
  };
  return index.cases.map((c) => {
    const [negativeIds, promptIds] = JSON.parse(readFileSync(join(root, c.inputs.ids), 'utf8')) as [number[], number[]];
    const file = (device: string, name: string): string => join(root, c.runs[device]!.outputs[name]!.file);
    return {
      name: c.name,
      scheduler: c.scheduler.includes('dpm') ? 'dpm' : 'pndm',
      calls: c.runs['cpu']!.num_steps,
      negativeIds,
      promptIds,
      latents: readF32(join(root, c.inputs.latents)),
      rgba: (device) => bytes(file(device, 'rgba.bin')),
      finalLatents: (device) => readF32(file(device, 'final_latents.bin')),
    };
  });
}

/** The largest per-channel difference of two RGBA images. */
export function maxByteDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
