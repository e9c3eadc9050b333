/** Totals of a weight index per model, format and dtype, without reading any weight. */
import type { WeightIndex } from './weight-index.js';

export interface WeightSummary {
  indexFile: string;
  shards: number;
  storedBytes: number;
  /** Bytes once on the device (f32-to-bf16 records expand to float32). */
  deviceBytes: number;
  formats: string[];
  dtypes: string[];
  models: Record<string, { count: number; storedBytes: number; deviceBytes: number }>;
}

export function summarizeWeights(index: WeightIndex): WeightSummary {
  const models: WeightSummary['models'] = {};
  const formats = new Set<string>();
  const dtypes = new Set<string>();
  let deviceBytes = 0;
  for (const shard of index.shards) {
    for (const r of shard.records) {
      const onDevice = r.format === 'f32-to-bf16' ? r.nbytes * 2 : r.nbytes;
      const model = r.name.replace(/_\d+$/, '');
      const m = (models[model] ??= { count: 0, storedBytes: 0, deviceBytes: 0 });
      m.count++;
      m.storedBytes += r.nbytes;
      m.deviceBytes += onDevice;
      deviceBytes += onDevice;
      formats.add(r.format);
      dtypes.add(r.dtype);
    }
  }
  return { indexFile: index.file, shards: index.shards.length, storedBytes: index.totalBytes, deviceBytes, formats: [...formats], dtypes: [...dtypes], models };
}

