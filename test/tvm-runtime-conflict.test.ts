// Issue 15 item 1: a second, different TVM runtime file in one process is refused before it
// is mapped (mapping it ran its static initialisers into the first runtime's registry and
// aborted the process). Each case runs in its own process, since the defect kills it.
import { copyFileSync, linkSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedData, testRuntime, titled } from './support/shared-data.js';
import { distModule, runScript } from './support/subprocess.js';

const legacy = testRuntime();
const ffi = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 (tvm-ffi) runtime');

/** Loads `first`, then tries each of `then`; reports what each second load gave. */
async function loadTwice(first: string, then: string[]): Promise<{ status: number | null; signal: string | null; report: unknown; stderr: string }> {
  const code = `
    const tvm = await import(${JSON.stringify(distModule('lib/tvm/index.js'))});
    const first = tvm.loadRuntime({ library: ${JSON.stringify(first)} });
    const results = [];
    for (const path of ${JSON.stringify(then)}) {
      try {
        const rt = tvm.loadRuntime({ library: path });
        results.push({ ok: true, abi: rt.abi });
      } catch (err) {
        results.push({ ok: false, name: err.name, code: err.code, loadedPath: err.loadedPath, requestedPath: err.requestedPath, message: err.message, isConflict: err instanceof tvm.RuntimeConflictError });
      }
    }
    // The first runtime still works after the refusals.
    const a = await first.ndarrayAsync(new Float32Array([1, 2, 3]), [3], 'float32');
    results.push({ stillWorks: Array.from(await a.toFloat32ArrayAsync()) });
    console.log(JSON.stringify(results));
  `;
  const r = await runScript(code);
  return { status: r.status, signal: r.signal, report: r.report, stderr: r.stderr };
}

describe.skipIf(!legacy.available)(titled('a second TVM runtime in one process', legacy), () => {
  it('refuses a byte-identical copy at another path with RuntimeConflictError naming both paths, and the process lives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-rt-copy-'));
    const copy = join(dir, 'libtvm_runtime.so');
    copyFileSync(legacy.path, copy);
    const r = await loadTwice(legacy.path, [copy]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const [refused, after] = r.report as [Record<string, unknown>, { stillWorks: number[] }];
    expect(refused).toMatchObject({ ok: false, name: 'RuntimeConflictError', code: 'RUNTIME_CONFLICT', isConflict: true, loadedPath: legacy.path, requestedPath: copy });
    expect(refused['message']).toContain(legacy.path);
    expect(refused['message']).toContain(copy);
    expect(after.stillWorks).toEqual([1, 2, 3]);
  });

  it('accepts the same file under another name: a symlink or a hard link shares the runtime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-rt-link-'));
    const link = join(dir, 'libtvm_runtime.so');
    symlinkSync(legacy.path, link);
    const copyDir = mkdtempSync(join(tmpdir(), 'sd-mali-rt-hard-'));
    const candidates = [link];
    const hard = join(copyDir, 'libtvm_runtime.so');
    try {
      linkSync(legacy.path, hard);
      candidates.push(hard);
    } catch {
      // Another filesystem: the symlink case still runs.
    }
    const r = await loadTwice(legacy.path, candidates);
    expect(r.status, r.stderr).toBe(0);
    const results = r.report as Record<string, unknown>[];
    for (const res of results.slice(0, candidates.length)) expect(res).toMatchObject({ ok: true, abi: 'legacy' });
  });

  it.skipIf(!ffi.available)('refuses a tvm-ffi runtime after a legacy one, before mapping it', async () => {
    const r = await loadTwice(legacy.path, [ffi.path]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const [refused] = r.report as [Record<string, unknown>];
    expect(refused).toMatchObject({ ok: false, name: 'RuntimeConflictError', loadedPath: legacy.path, requestedPath: ffi.path });
  });

  it('refuses a different runtime file in a worker thread while the main thread holds one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-rt-copy-'));
    const copy = join(dir, 'libtvm_runtime.so');
    copyFileSync(legacy.path, copy);
    const tvmUrl = distModule('lib/tvm/index.js');
    const code = `
      import { Worker } from 'node:worker_threads';
      const tvm = await import(${JSON.stringify(tvmUrl)});
      tvm.loadRuntime({ library: ${JSON.stringify(legacy.path)} });
      const worker = new Worker(\`
        import { parentPort } from 'node:worker_threads';
        const tvm = await import(${JSON.stringify(tvmUrl)});
        try { tvm.loadRuntime({ library: ${JSON.stringify(copy)} }); parentPort.postMessage({ ok: true }); }
        catch (err) { parentPort.postMessage({ ok: false, name: err.name, loadedPath: err.loadedPath }); }
      \`, { eval: true }); // evaluated as a module: the process runs with --input-type=module
      const msg = await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
      console.log(JSON.stringify(msg));
    `;
    const r = await runScript(code);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.report).toEqual({ ok: false, name: 'RuntimeConflictError', loadedPath: legacy.path });
  });
});
