/** Timing helpers shared by the benchmarks. */
export interface BenchRow {
  name: string;
  iterations: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  perSecond: number;
  unit: string;
}

export function summarize(name: string, samplesMs: number[], unit: string): BenchRow {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { name, iterations: sorted.length, meanMs: mean, p50Ms: at(0.5), p95Ms: at(0.95), perSecond: 1000 / mean, unit };
}

export function measure(name: string, iterations: number, fn: () => void, unit: string): BenchRow {
  for (let i = 0; i < Math.min(10, iterations); i++) fn(); // warm-up (JIT)
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return summarize(name, samples, unit);
}

export function printTable(title: string, rows: BenchRow[]): void {
  console.log(`\n${title}`);
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  console.log(`${'benchmark'.padEnd(w)}  ${'mean ms'.padStart(10)}  ${'p50 ms'.padStart(10)}  ${'p95 ms'.padStart(10)}  ${'per s'.padStart(10)}`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${r.meanMs.toFixed(3).padStart(10)}  ${r.p50Ms.toFixed(3).padStart(10)}  ${r.p95Ms.toFixed(3).padStart(10)}  ${r.perSecond.toFixed(1).padStart(10)} ${r.unit}s`,
    );
  }
}
