/**
 * `npm run bench -- build`: the compile flow at SD 1.5's real size. A random-weight SD 1.5
 * single file (float16, 2.13 GB, from ../shared/realscale/sd15-ldm-keys.json) is made with
 * numpy once, then built for `opencl` in FP32 and FP16 on this machine. Reported beside the
 * goals of issue 18 and beside TVM's own OpenCL output (the same build without sd-mali's
 * per-program stripping, counted in the same run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../lib/build/build.js';
import { findBuildPython } from '../lib/build/find-python.js';

export interface BuildBench {
  dtype: 'float32' | 'float16';
  wallS: number;
  compileS: number;
  peakRssBytes: number;
  linkerPeakRssBytes: number;
  soBytes: number;
  openclPrograms: number;
  openclSourceBytes: number;
  openclSourceBytesUnstripped: number;
  weightBytes: number;
}

const GiB = 1024 ** 3;
const MB = 1e6;

export async function benchBuild(shared: string, root: string): Promise<BuildBench[] | string> {
  const keys = join(shared, 'realscale', 'sd15-ldm-keys.json');
  if (!existsSync(keys)) return `needs ${keys}`;
  let python;
  try {
    python = await findBuildPython(process.env['SD_MALI_BUILD_PYTHON'] ?? (existsSync(join(root, '.venv-build/bin/python')) ? join(root, '.venv-build/bin/python') : undefined));
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
  const work = join(process.env['SD_MALI_BENCH_DIR'] ?? tmpdir(), 'sd-mali-bench-build');
  mkdirSync(work, { recursive: true });
  const checkpoint = join(work, 'sd15-random-f16.safetensors');
  if (!existsSync(checkpoint)) {
    process.stderr.write(`making a random SD 1.5 checkpoint at ${checkpoint} (numpy, about 2 minutes)…\n`);
    const made = spawnSync(python.python, [join(root, 'bench', 'make-sd15-checkpoint.py'), keys, `${checkpoint}.part`], { stdio: 'inherit' });
    if (made.status !== 0) return `making the checkpoint failed (exit ${made.status})`;
    spawnSync('mv', [`${checkpoint}.part`, checkpoint]);
  }
  const rows: BuildBench[] = [];
  for (const dtype of ['float32', 'float16'] as const) {
    const out = join(work, `sd15-opencl-${dtype}`);
    rmSync(out, { recursive: true, force: true });
    const started = Date.now();
    let lastPhase = '';
    const result = await build(checkpoint, {
      out,
      target: 'opencl',
      dtype,
      python: python.python,
      onProgress: (p) => {
        if (p.phase !== lastPhase) process.stderr.write(`  ${dtype}: ${p.phase} at ${(p.elapsedMs / 1000).toFixed(0)} s\n`);
        lastPhase = p.phase;
      },
    });
    const m = result.manifest;
    rows.push({
      dtype,
      wallS: (Date.now() - started) / 1000,
      compileS: m.compileSeconds,
      peakRssBytes: result.peakRssBytes,
      linkerPeakRssBytes: result.childPeakRssBytes,
      soBytes: statSync(join(out, m.executable)).size,
      openclPrograms: m.opencl?.programs ?? 0,
      openclSourceBytes: m.opencl?.sourceBytes ?? 0,
      openclSourceBytesUnstripped: m.opencl?.sourceBytesWithoutStripping ?? 0,
      weightBytes: m.weights.bytes,
    });
  }
  return rows;
}

export function printBuild(rows: BuildBench[]): void {
  console.log('\nSD 1.5 build for opencl (random weights, this machine)');
  console.log('dtype    | wall s | compile s | peak RSS GiB (linker) | .so MB | OpenCL programs | OpenCL source MB (TVM stock) | weights GiB');
  for (const r of rows) {
    console.log(
      `${r.dtype.padEnd(8)} | ${r.wallS.toFixed(0).padStart(6)} | ${r.compileS.toFixed(0).padStart(9)} | ${(r.peakRssBytes / GiB).toFixed(2).padStart(12)} (${(r.linkerPeakRssBytes / GiB).toFixed(2)}) | ` +
        `${(r.soBytes / MB).toFixed(1).padStart(6)} | ${String(r.openclPrograms).padStart(15)} | ${(r.openclSourceBytes / MB).toFixed(2).padStart(8)} (${(r.openclSourceBytesUnstripped / MB).toFixed(1)}) | ${(r.weightBytes / GiB).toFixed(2)}`,
    );
  }
  const f32 = rows.find((r) => r.dtype === 'float32');
  const f16 = rows.find((r) => r.dtype === 'float16');
  console.log('goals: build ≤ 600 s, peak RSS ≤ 8 GB, OpenCL source ≤ 10 MB, FP16 device bytes ≤ 0.52 × FP32');
  if (f32 && f16) console.log(`FP16 / FP32 weight bytes: ${(f16.weightBytes / f32.weightBytes).toFixed(3)}`);
}
