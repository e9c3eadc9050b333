/**
 * The persistent cache of OpenCL program binaries, kept by the forwarding library
 * (opencl-forwarder.ts): after TVM builds a program from source, its device binary is
 * stored under a key made of the exact source, the device, the driver and the OpenCL
 * version; the next process makes that program from the binary instead of compiling it.
 * Mali's driver keeps no cache of its own, and a UNet's programs take minutes to build.
 *
 * Where: the `programCache` load option (a directory, or false), else SD_MALI_CACHE_DIR,
 * else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali; binaries in opencl-programs/ under
 * it. The setting is process-wide, as OpenCL is: the last load's applies.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { nativeBinding, type OpenClCacheStats } from './native.js';
import { openClForwarderState } from './opencl-forwarder.js';

export const DEFAULT_PROGRAM_CACHE_MAX_BYTES = 2 * 1024 ** 3;
const PROGRAMS_SUBDIR = 'opencl-programs';
const ENTRY_SUFFIX = '.clbin';
const LAST_RUN_FILE = 'last-run.json';

export interface ProgramCacheState {
  enabled: boolean;
  /** The folder holding the binaries. */
  dir?: string;
  maxBytes?: number;
  /** Why it is off. */
  reason?: string;
}

/** The cache root: SD_MALI_CACHE_DIR, else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali. */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env['SD_MALI_CACHE_DIR']) return resolve(env['SD_MALI_CACHE_DIR']);
  if (env['XDG_CACHE_HOME']) return join(resolve(env['XDG_CACHE_HOME']), 'sd-mali');
  return join(homedir(), '.cache', 'sd-mali');
}

/** The folder of program binaries under a cache root (option value or default). */
export function programCacheDir(root: string = defaultCacheRoot()): string {
  return join(resolve(root), PROGRAMS_SUBDIR);
}

let current: ProgramCacheState = { enabled: false, reason: 'not configured yet (a pipeline load configures it)' };

/** Points the forwarder's cache at `option` (a cache root; false: off; undefined: the default). */
export function configureProgramCache(option: string | false | undefined, maxBytes: number = DEFAULT_PROGRAM_CACHE_MAX_BYTES): ProgramCacheState {
  if (option !== undefined && option !== false && (typeof option !== 'string' || option === '')) {
    throw new InvalidArgumentError(`programCache must be a directory or false, got ${JSON.stringify(option)}`);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError(`programCacheMaxBytes must be a non-negative integer, got ${maxBytes}`);
  const forwarder = openClForwarderState();
  if (!forwarder.loaded) {
    current = { enabled: false, reason: `the OpenCL forwarding library is not loaded: ${forwarder.reason ?? 'unknown'}` };
    return current;
  }
  const binding = nativeBinding();
  if (option === false) {
    binding.configureOpenClCache('', 0);
    current = { enabled: false, reason: 'turned off (programCache: false)' };
    return current;
  }
  const dir = programCacheDir(option ?? defaultCacheRoot());
  binding.configureOpenClCache(dir, maxBytes);
  current = { enabled: true, dir, maxBytes };
  return current;
}

export function programCacheState(): ProgramCacheState {
  return { ...current };
}

/** Counts since this process started (null without the forwarder). */
export function programCacheStats(): OpenClCacheStats | null {
  return openClForwarderState().loaded ? nativeBinding().openClCacheStats() : null;
}

/**
 * Stores the binaries of the programs built from source since the last flush. Taken after
 * the kernels ran, so drivers that compile per launch (PoCL) include that code too. Runs
 * off the main thread; resolves with how many were stored.
 */
export async function flushProgramCache(): Promise<number> {
  if (!current.enabled || !openClForwarderState().loaded) return 0;
  return nativeBinding().flushOpenClCache();
}

export interface ProgramCacheContents {
  dir: string;
  entries: number;
  bytes: number;
  /** What the last process that used this cache counted, if it recorded it. */
  lastRun?: OpenClCacheStats & { at: string };
}

/** Entries and size of a cache folder (a missing folder is an empty cache). */
export async function inspectProgramCache(dir: string): Promise<ProgramCacheContents> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return { dir, entries: 0, bytes: 0 };
  }
  let entries = 0;
  let bytes = 0;
  for (const name of names) {
    if (!name.endsWith(ENTRY_SUFFIX)) continue;
    try {
      bytes += (await stat(join(dir, name))).size;
      entries++;
    } catch {
      // removed meanwhile by another process: not counted
    }
  }
  const out: ProgramCacheContents = { dir, entries, bytes };
  try {
    out.lastRun = JSON.parse(await readFile(join(dir, LAST_RUN_FILE), 'utf8')) as ProgramCacheContents['lastRun'];
  } catch {
    // no run recorded yet
  }
  return out;
}

/** Deletes every entry (and leftovers of interrupted writes); returns what was removed. */
export async function clearProgramCache(dir: string): Promise<{ entries: number; bytes: number }> {
  const before = await inspectProgramCache(dir);
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return { entries: 0, bytes: 0 };
  }
  for (const name of names) {
    if (name.endsWith(ENTRY_SUFFIX) || name.includes(`${ENTRY_SUFFIX}.tmp.`) || name === LAST_RUN_FILE) await rm(join(dir, name), { force: true });
  }
  return { entries: before.entries, bytes: before.bytes };
}

/**
 * Stores what is pending, then records this process's counts for `sd-mali doctor` (best
 * effort: a read-only cache just has none).
 */
export async function recordProgramCacheRun(): Promise<void> {
  const state = current;
  if (!state.enabled || !state.dir) return;
  await flushProgramCache();
  const stats = programCacheStats();
  if (!stats) return;
  const file = join(state.dir, LAST_RUN_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(state.dir, { recursive: true });
    await writeFile(tmp, `${JSON.stringify({ at: new Date().toISOString(), ...stats })}\n`);
    await rename(tmp, file);
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
