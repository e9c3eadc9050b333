/**
 * Weight loading at SD 1.5's real size: loadWeights onto cpu and opencl beside this
 * machine's floor (shards read with fs alone + the addon's plain C expansion loop) and the
 * numpy path, each in a child process of its own (clean peak RSS), best of `runs`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sd15WeightDir, type WeightDir } from './sd15-weight-dir.js';
import type { FloorSample, LoaderSample } from './weights-child.js';

export interface WeightRow {
  path: string;
  seconds: number;
  gbPerSecond: number;
  peakRssMiB: number | undefined;
  /** Peak RSS minus the weights' device bytes (the goal on cpu: <= 128 MiB). */
  rssOverDeviceMiB: number | undefined;
  longestBlockMs: number | undefined;
  /** The longest block over an idle second in the same process: the scheduler's share. */
  idleLongestBlockMs: number | undefined;
  mainThreadCpuMs: number | undefined;
  longestGcMs: number | undefined;
  gcCount: number | undefined;
  timesFloor: number;
}

export interface WeightBench {
  dir: Omit<WeightDir, 'paramsDir'>;
  runs: number;
  floor: FloorSample & { seconds: number };
  rows: WeightRow[];
  skipped: string[];
}

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;

function child<T>(args: string[]): T | { skipped: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, 'weights-child.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) return { skipped: `child failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}` };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

function hasNumpy(): string {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return '';
  } catch {
    return 'python3 with numpy is not available';
  }
}

function best<T extends { seconds: number }>(samples: T[]): T {
  return samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

export async function benchWeights(sharedDir: string, runtimePath: string, root: string, runs = 3): Promise<WeightBench | string> {
  const dir = sd15WeightDir(join(sharedDir, 'realscale', 'sd15-weight-layout.json'), (l) => console.log(l));
  if (typeof dir === 'string') return dir;
  const skipped: string[] = [];
  const floors: Array<FloorSample & { seconds: number }> = [];
  const measureFloor = (): string | undefined => {
    const f = child<FloorSample>(['floor', dir.paramsDir]);
    if ('skipped' in f) return `floor: ${f.skipped}`;
    floors.push({ ...f, seconds: f.readSeconds + f.expandSeconds });
    return undefined;
  };
  // A first pass brings the shards into the page cache for everyone after it.
  const failed = measureFloor();
  if (failed) return failed;
  floors.length = 0;
  const rows: WeightRow[] = [];
  type Sample = {
    seconds: number;
    peakRssBytes?: number;
    longestBlockMs?: number;
    idleLongestBlockMs?: number;
    mainThreadCpuMs?: number | undefined;
    longestGcMs?: number;
    gcCount?: number;
  };
  const worst = (samples: Sample[], key: 'longestBlockMs' | 'idleLongestBlockMs' | 'mainThreadCpuMs' | 'longestGcMs' | 'gcCount'): number | undefined =>
    samples.some((s) => s[key] === undefined) ? undefined : Math.max(...samples.map((s) => s[key]!));
  const row = (path: string, samples: Sample[]): WeightRow => {
    const b = best(samples);
    const peak = samples.some((s) => s.peakRssBytes === undefined) ? undefined : Math.max(...samples.map((s) => s.peakRssBytes!));
    return {
      path,
      seconds: b.seconds,
      gbPerSecond: dir.storedBytes / 1e9 / b.seconds,
      peakRssMiB: peak === undefined ? undefined : peak / MiB,
      rssOverDeviceMiB: peak === undefined ? undefined : (peak - dir.deviceBytes) / MiB,
      longestBlockMs: worst(samples, 'longestBlockMs'),
      idleLongestBlockMs: worst(samples, 'idleLongestBlockMs'),
      mainThreadCpuMs: worst(samples, 'mainThreadCpuMs'),
      longestGcMs: worst(samples, 'longestGcMs'),
      gcCount: worst(samples, 'gcCount'),
      timesFloor: b.seconds / best(floors).seconds,
    };
  };
  // Rounds interleave the paths (the floor too), so that on a shared machine each round compares them
  // under the same load; every path keeps its best round.
  const numpyMissing = hasNumpy();
  if (numpyMissing) skipped.push(`numpy path: ${numpyMissing}`);
  const numpy: Array<{ seconds: number; peakRssBytes: number }> = [];
  const loaders: Record<string, LoaderSample[]> = { cpu: [], opencl: [] };
  for (let i = 0; i < runs; i++) {
    const floorFailed = measureFloor();
    if (floorFailed) return floorFailed;
    if (!numpyMissing && numpy.length === i) {
      const r = spawnSync('python3', [join(root, 'bench', 'numpy-load.py'), dir.paramsDir], { encoding: 'utf8' });
      if (r.status === 0) numpy.push(JSON.parse(r.stdout.trim()) as { seconds: number; peakRssBytes: number });
      else skipped.push(`numpy path failed: ${r.stderr.trim().split('\n').at(-1)}`);
    }
    for (const [device, samples] of Object.entries(loaders)) {
      if (samples.length !== i) continue; // skipped earlier
      const s = child<LoaderSample>(['loader', runtimePath, dir.paramsDir, device]);
      if ('skipped' in s) skipped.push(`loadWeights on ${device}: ${s.skipped}`);
      else samples.push(s);
    }
  }
  const floor = best(floors);
  rows.push(row('floor: fs read + C expand', [floor]));
  if (numpy.length === runs) rows.push(row('numpy (cpu)', numpy));
  for (const [device, samples] of Object.entries(loaders)) if (samples.length === runs) rows.push(row(`loadWeights (${device})`, samples));
  const { paramsDir: _omit, ...described } = dir;
  return { dir: described, runs, floor, rows, skipped };
}

export function printWeights(b: WeightBench): void {
  const d = b.dir;
  console.log(
    `\nWeight loading, SD 1.5 layout (${d.records} records, ${d.shards} shards, ${(d.storedBytes / 2 ** 30).toFixed(2)} GiB bf16 stored, ` +
      `${(d.deviceBytes / 2 ** 30).toFixed(2)} GiB float32 on the device; page cache warm; best of ${b.runs} interleaved rounds)`,
  );
  console.log(
    `floor = fs read ${b.floor.readSeconds.toFixed(2)} s + C expansion ${b.floor.expandSeconds.toFixed(2)} s (into a reused buffer) = ${b.floor.seconds.toFixed(2)} s`,
  );
  const opt = (n: number | undefined, digits: number): string => (n === undefined ? '–' : n.toFixed(digits));
  const numpy = b.rows.find((r) => r.path.startsWith('numpy'));
  const header = ['path', 'seconds', 'GB/s stored', 'peak RSS MiB', 'RSS - device MiB', 'longest block ms (idle)', 'longest GC ms (GCs)', 'JS thread CPU ms', 'x floor', 'x numpy'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const r of b.rows) {
    const cells = [
      r.path,
      r.seconds.toFixed(2),
      r.gbPerSecond.toFixed(2),
      opt(r.peakRssMiB, 0),
      opt(r.rssOverDeviceMiB, 0),
      r.longestBlockMs === undefined ? '–' : `${r.longestBlockMs.toFixed(1)} (${opt(r.idleLongestBlockMs, 1)})`,
      r.longestGcMs === undefined ? '–' : `${r.longestGcMs.toFixed(1)} (${opt(r.gcCount, 0)})`,
      opt(r.mainThreadCpuMs, 0),
      r.timesFloor.toFixed(2),
      numpy ? (r.seconds / numpy.seconds).toFixed(2) : '–',
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  console.log('(longest block: worst event-loop delay during the load; in brackets the same over an idle second just before it, which is');
  console.log(' what a busy machine\'s scheduler costs alone; GC: V8\'s collections during the load, which the arrays\' external-memory');
  console.log(' reports trigger; JS thread CPU: all CPU time the JavaScript thread used during the load, the 5 ms event-loop monitor');
  console.log(' included; worst of the runs)');
  for (const s of b.skipped) console.log(`(${s})`);
}
