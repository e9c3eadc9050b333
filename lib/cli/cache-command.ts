/** sd-mali cache info | clear: the OpenCL program cache (see lib/tvm/program-cache.ts). */
import { clearProgramCache, defaultCacheRoot, inspectProgramCache, programCacheDir, type ProgramCacheContents } from '../tvm/index.js';
import { formatBytes } from './model-report.js';

export interface CacheCommandOptions {
  programCache?: string;
  json?: boolean;
}

/** The programs folder the options point at (the same rule as load). */
export function cacheDirFor(option: string | undefined): string {
  return programCacheDir(option ?? defaultCacheRoot());
}

/** One line: where, how many, how big, and what the last run counted. */
export function describeCache(c: ProgramCacheContents): string {
  const last = c.lastRun
    ? `; last run (${c.lastRun.at}): ${c.lastRun.binaryHits} from the cache, ${c.lastRun.sourceBuilds} built from source` +
      (c.lastRun.rejected + c.lastRun.corrupt > 0 ? `, ${c.lastRun.rejected + c.lastRun.corrupt} bad entries replaced` : '')
    : '';
  return `${c.dir}: ${c.entries} program${c.entries === 1 ? '' : 's'}, ${formatBytes(c.bytes)}${last}`;
}

export async function cacheInfoCommand(opts: CacheCommandOptions): Promise<number> {
  const contents = await inspectProgramCache(cacheDirFor(opts.programCache));
  process.stdout.write(opts.json ? `${JSON.stringify(contents, null, 2)}\n` : `${describeCache(contents)}\n`);
  return 0;
}

export async function cacheClearCommand(opts: CacheCommandOptions): Promise<number> {
  const dir = cacheDirFor(opts.programCache);
  const removed = await clearProgramCache(dir);
  process.stdout.write(
    opts.json ? `${JSON.stringify({ dir, ...removed })}\n` : `removed ${removed.entries} program${removed.entries === 1 ? '' : 's'} (${formatBytes(removed.bytes)}) from ${dir}\n`,
  );
  return 0;
}
