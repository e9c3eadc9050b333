/** sd-mali cache info | clear: the OpenCL program cache (see lib/tvm/program-cache.ts). */
import type { Command } from 'commander';
import { clearProgramCache, defaultCacheRoot, inspectProgramCache, programCacheDir, type ProgramCacheContents } from '../tvm/index.js';
import { formatBytes } from './model-report.js';
import { programCacheOption } from './program-cache-option.js';

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

/** Adds `cache info` and `cache clear` to the sd-mali program. */
export function registerCacheCommand(program: Command): void {
  const cache = program.command('cache').description('the cache of compiled OpenCL programs that makes the second run start fast');
  cache
    .command('info')
    .description('where the cache is, how many programs and bytes it holds, and what the last run took from it')
    .addOption(programCacheOption('inspect'))
    .option('--json', 'machine-readable output')
    .action(async (opts: CacheCommandOptions) => {
      process.exitCode = await cacheInfoCommand(opts);
    });
  cache
    .command('clear')
    .description('delete every cached program (the next run builds them from source again)')
    .addOption(programCacheOption('inspect'))
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ sd-mali cache clear')
    .action(async (opts: CacheCommandOptions) => {
      process.exitCode = await cacheClearCommand(opts);
    });
}
