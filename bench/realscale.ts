/**
 * Event-loop blocks at SD 1.5's real size (issue 23): load of the real weight layout, the
 * process's first generate, steady generates and toPNG of a 512x512 image, each with its
 * longest block and the idle baseline measured just before it in the same process. Every
 * runtime and device in processes of their own, in interleaved rounds; the worst of the
 * rounds is reported (blocks are a worst case, not a mean).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlockSample } from './block-monitor.js';
import type { RealscalePhase, RealscaleSample } from './realscale-child.js';
import { sd15WeightDir } from './sd15-weight-dir.js';

export interface RealscaleRow {
  tvm: string;
  device: string;
  deviceName: string | undefined;
  deviceKind: string | undefined;
  phase: RealscalePhase['phase'];
  what: string;
  /** Best of the rounds. */
  seconds: number;
  /** Worst of the rounds. */
  longestBlockMs: number;
  /** The JavaScript thread's CPU during that block (its own work; the rest was scheduling). */
  longestBlockCpuMs: number | undefined;
  /** The most CPU the JavaScript thread ran between two ticks, worst of the rounds. */
  busiestGapCpuMs: number | undefined;
  /** The idle baseline just before the phase, worst of the rounds. */
  idleLongestBlockMs: number;
}

export interface RealscaleBench {
  rounds: number;
  rows: RealscaleRow[];
  skipped: string[];
}

const child = join(dirname(fileURLToPath(import.meta.url)), 'realscale-child.js');

export function benchRealscale(
  sharedDir: string,
  runtimes: ReadonlyArray<{ label: string; path: string; standin: string }>,
  rounds = 2,
): RealscaleBench | string {
  const dir = sd15WeightDir(join(sharedDir, 'realscale', 'sd15-weight-layout.json'), (l) => console.log(l));
  if (typeof dir === 'string') return dir;
  // One program cache for every round, so only the first round's first generate builds kernels.
  const cache = join(tmpdir(), 'sd-mali-bench-realscale-cache');
  mkdirSync(cache, { recursive: true });
  const samples = new Map<string, { tvm: string; samples: RealscaleSample[] }>();
  const skipped: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const r of runtimes) {
      for (const device of ['cpu', 'opencl']) {
        const key = `${r.label} ${device}`;
        const run = spawnSync(process.execPath, ['--expose-gc', child, r.path, r.standin, dir.paramsDir, device, cache], {
          encoding: 'utf8',
          maxBuffer: 1 << 22,
          timeout: 600_000,
        });
        const line = run.stdout?.trim().split('\n').at(-1);
        if (run.status !== 0 || !line?.startsWith('{')) {
          skipped.push(`${key}, round ${round + 1}: child failed (${run.status}): ${(run.stderr ?? '').trim().split('\n').slice(-2).join(' / ')}`);
          continue;
        }
        const entry = samples.get(key) ?? { tvm: r.label, samples: [] };
        entry.samples.push(JSON.parse(line) as RealscaleSample);
        samples.set(key, entry);
      }
    }
  }
  const rows: RealscaleRow[] = [];
  const worst = (xs: Array<number | undefined>): number | undefined => (xs.some((x) => x === undefined) ? undefined : Math.max(...(xs as number[])));
  for (const { tvm, samples: runs } of samples.values()) {
    const first = runs[0]!;
    for (const [i, p] of first.phases.entries()) {
      const all = runs.map((s) => s.phases[i]!);
      const worstBlock = all.reduce((a, b) => (b.blocks.longestBlockMs > a.blocks.longestBlockMs ? b : a));
      rows.push({
        tvm,
        device: first.device,
        deviceName: first.deviceName,
        deviceKind: first.deviceKind,
        phase: p.phase,
        what: p.what,
        seconds: Math.min(...all.map((s) => s.seconds)),
        longestBlockMs: worstBlock.blocks.longestBlockMs,
        longestBlockCpuMs: worstBlock.blocks.longestBlockCpuMs,
        busiestGapCpuMs: worst(all.map((s) => s.blocks.busiestGapCpuMs)),
        idleLongestBlockMs: Math.max(...all.map((s) => s.idle.longestBlockMs)),
      });
    }
  }
  return { rounds, rows, skipped };
}

export function printRealscale(b: RealscaleBench): void {
  console.log(`\nEvent-loop blocks at SD 1.5's real layout (load) and on 512x512 images (stand-in executables), worst of ${b.rounds} interleaved rounds`);
  const header = ['TVM', 'device', 'kind', 'phase', 'what', 'seconds', 'longest block ms (JS CPU in it)', 'idle baseline ms', 'block - baseline ms', 'busiest JS stretch ms'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  const opt = (n: number | undefined): string => (n === undefined ? '–' : n.toFixed(1));
  for (const r of b.rows) {
    console.log(
      `| ${[
        r.tvm,
        r.device,
        r.deviceKind ?? '–',
        r.phase,
        r.what,
        r.seconds.toFixed(2),
        `${r.longestBlockMs.toFixed(1)} (${opt(r.longestBlockCpuMs)})`,
        r.idleLongestBlockMs.toFixed(1),
        (r.longestBlockMs - r.idleLongestBlockMs).toFixed(1),
        opt(r.busiestGapCpuMs),
      ].join(' | ')} |`,
    );
  }
  console.log('(longest block: the longest time a 5 ms interval timer could not run, less the interval; in brackets the CPU time the');
  console.log(' JavaScript thread itself ran during it, the rest being the OS running other work; idle baseline: the same monitor over an');
  console.log(' idle second just before the phase, in the same process; busiest JS stretch: the most CPU the JavaScript thread ran');
  console.log(' between two ticks anywhere in the phase, i.e. our own longest piece of work)');
  for (const s of b.skipped) console.log(`(${s})`);
}
