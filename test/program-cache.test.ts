// The OpenCL program cache, as users meet it: separate processes on the real runtime and
// PoCL, counting what the forwarding library built from source and what it took from the
// cache, and checking that every image is byte-identical whatever the cache held.
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../lib/errors.js';
import * as tvm from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { deviceUnavailable } from './support/devices.js';
import { REPO_ROOT, testRuntime, testStandin, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const openclWhy = runtimeInfo.available ? await deviceUnavailable(tvm.loadRuntime({ library: runtimeInfo.path }), 'opencl') : '';
const ready = {
  ...runtimeInfo,
  available: runtimeInfo.available && standin.available && openclWhy === '',
  reason: runtimeInfo.reason || standin.reason || openclWhy,
};

interface ChildResult {
  programCache: tvm.ProgramCacheState;
  stats: tvm.OpenClCacheStats;
  rgba: string;
}

const CHILD = join(REPO_ROOT, 'test', 'fixtures', 'program-cache-child.mjs');
const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `sd-mali-${prefix}-`));

/** One process: load, generate, report. Asynchronous so that several can run at once. */
function runChild(cache: string, maxBytes?: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const args = [CHILD, standin.path, cache, ...(maxBytes !== undefined ? [String(maxBytes)] : [])];
    const child = spawn(process.execPath, args, { env: { ...process.env, SD_MALI_TVM_RUNTIME: runtimeInfo.path }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child exited with ${code}: ${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

const entries = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.clbin')).sort();
const bytesOf = (dir: string): number => entries(dir).reduce((n, e) => n + statSync(join(dir, e)).size, 0);

/** A well-formed entry (header, key, digest) around `binary`: only the driver can tell it is not its own. */
function writeEntry(file: string, key: string, binary: Buffer): void {
  const header = Buffer.alloc(88);
  header.write('SDMCLBN1', 0, 'latin1');
  Buffer.from(key, 'hex').copy(header, 8);
  header.writeUInt32LE(0, 40);
  header.writeUInt32LE(0, 44);
  header.writeBigUInt64LE(BigInt(binary.length), 48);
  createHash('sha256').update(binary).digest().copy(header, 56);
  writeFileSync(file, Buffer.concat([header, binary]));
}

describe('program cache settings', () => {
  it('finds the cache root in SD_MALI_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(tvm.defaultCacheRoot({ SD_MALI_CACHE_DIR: '/srv/cache', XDG_CACHE_HOME: '/xdg' })).toBe('/srv/cache');
    expect(tvm.defaultCacheRoot({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/sd-mali');
    expect(tvm.defaultCacheRoot({})).toMatch(/\/\.cache\/sd-mali$/);
    expect(tvm.programCacheDir('/srv/cache')).toBe('/srv/cache/opencl-programs');
  });

  it('refuses a programCache that is neither a directory nor false', () => {
    expect(() => tvm.configureProgramCache('' as string)).toThrow(InvalidArgumentError);
    expect(() => tvm.configureProgramCache(true as unknown as string)).toThrow(InvalidArgumentError);
    expect(() => tvm.configureProgramCache(undefined, -1)).toThrow(InvalidArgumentError);
  });
});

describe.skipIf(!ready.available)(titled(`the OpenCL program cache across processes (PoCL, TVM ${runtimeInfo.id})`, ready), () => {
  let reference: ChildResult;
  let warmCache: string;

  it("answers to libOpenCL.so in this process, so TVM talks to it", async () => {
    tvm.loadRuntime({ library: runtimeInfo.path });
    const state = tvm.openClForwarderState();
    expect(state.loaded).toBe(true);
    expect((await nativeBinding().probeSharedLibrary('libOpenCL.so')).path).toBe(state.path);
  });

  it('a second process makes every program from the cache: zero builds from source, the same image bytes', async () => {
    warmCache = tempDir('progcache');
    const cold = await runChild(warmCache);
    expect(cold.programCache).toMatchObject({ enabled: true, dir: join(warmCache, 'opencl-programs') });
    expect(cold.stats.sourceBuilds).toBeGreaterThan(10);
    expect(cold.stats).toMatchObject({ binaryHits: 0, stored: cold.stats.sourceBuilds, rejected: 0, corrupt: 0, writeFailures: 0 });
    expect(entries(join(warmCache, 'opencl-programs'))).toHaveLength(cold.stats.sourceBuilds);
    const warm = await runChild(warmCache);
    expect(warm.stats).toMatchObject({ sourceBuilds: 0, binaryHits: cold.stats.sourceBuilds, stored: 0 });
    expect(warm.rgba).toBe(cold.rgba);
    reference = cold;
  });

  it('a truncated, a bit-flipped and a misnamed entry are each deleted and rebuilt from source, the image unchanged', async () => {
    const root = tempDir('progcache-bad');
    cpSync(warmCache, root, { recursive: true });
    const dir = join(root, 'opencl-programs');
    const [a, b, c, d] = entries(dir);
    truncateSync(join(dir, a!), 100);
    const flipped = readFileSync(join(dir, b!));
    flipped[flipped.length - 1]! ^= 0x40;
    writeFileSync(join(dir, b!), flipped);
    // Another program's entry under c's name: its recorded key is not c's.
    renameSync(join(dir, d!), join(dir, c!));
    const r = await runChild(root);
    // d is simply missing now, so it is built too.
    expect(r.stats).toMatchObject({ corrupt: 3, sourceBuilds: 4, stored: 4, binaryHits: reference.stats.sourceBuilds - 4 });
    expect(r.rgba).toBe(reference.rgba);
    const again = await runChild(root);
    expect(again.stats).toMatchObject({ sourceBuilds: 0, corrupt: 0 });
  });

  it('an entry the driver refuses, as one from another device or driver would be, is rebuilt from source', async () => {
    const root = tempDir('progcache-foreign');
    cpSync(warmCache, root, { recursive: true });
    const dir = join(root, 'opencl-programs');
    const victim = entries(dir)[0]!;
    writeEntry(join(dir, victim), victim.replace('.clbin', ''), randomBytes(4096));
    const r = await runChild(root);
    expect(r.stats).toMatchObject({ rejected: 1, sourceBuilds: 1, stored: 1, corrupt: 0 });
    expect(r.rgba).toBe(reference.rgba);
  });

  it('a cache directory that cannot be written still gives correct images', async () => {
    const parent = tempDir('progcache-ro');
    const notADirectory = join(parent, 'file');
    writeFileSync(notADirectory, 'not a directory');
    const r = await runChild(join(notADirectory, 'cache'));
    expect(r.stats.sourceBuilds).toBe(reference.stats.sourceBuilds);
    expect(r.stats).toMatchObject({ stored: 0, writeFailures: reference.stats.sourceBuilds, binaryHits: 0 });
    expect(r.rgba).toBe(reference.rgba);
  });

  it('two processes filling an empty cache at once both make correct images and leave it complete', async () => {
    const root = tempDir('progcache-race');
    const [one, two] = await Promise.all([runChild(root), runChild(root)]);
    expect(one.rgba).toBe(reference.rgba);
    expect(two.rgba).toBe(reference.rgba);
    expect(entries(join(root, 'opencl-programs'))).toHaveLength(reference.stats.sourceBuilds);
    const third = await runChild(root);
    expect(third.stats).toMatchObject({ sourceBuilds: 0, corrupt: 0, rejected: 0 });
    expect(third.rgba).toBe(reference.rgba);
  });

  it('stays under its size cap, evicting the least recently used', async () => {
    const full = bytesOf(join(warmCache, 'opencl-programs'));
    const cap = Math.floor(full / 2);
    const root = tempDir('progcache-cap');
    const r = await runChild(root, cap);
    expect(r.rgba).toBe(reference.rgba);
    expect(r.stats.stored).toBe(reference.stats.sourceBuilds);
    const left = bytesOf(join(root, 'opencl-programs'));
    expect(left).toBeLessThanOrEqual(cap);
    expect(left).toBeGreaterThan(0);
  });

  it('programCache: false builds everything from source and writes nothing', async () => {
    const r = await runChild('off');
    expect(r.programCache.enabled).toBe(false);
    expect(r.stats).toMatchObject({ sourceBuilds: reference.stats.sourceBuilds, stored: 0, binaryHits: 0 });
    expect(r.rgba).toBe(reference.rgba);
  });
});
