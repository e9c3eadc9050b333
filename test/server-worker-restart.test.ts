// The worker process can die: `sd-mali serve` (the real binary) with the stand-in model,
// its worker killed with SIGKILL mid-run. That request gets a 500 saying what happened; the
// next one succeeds on a new worker; the server process is the same throughout.
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, startCli, type CliResult } from './support/cli.js';
import { pngSize, postJson, serverReady, serverRuntime, serverStandin, serverTokenizer, waitForProgress, type Txt2ImgResponse } from './support/server.js';
import { titled } from './support/shared-data.js';

/** Runs the CLI without blocking the test's event loop (spawnSync would). */
function runCli(args: string[]): Promise<CliResult> {
  const child = startCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** The pids of `pid`'s child processes, from /proc. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sd-mali serve on the command line', () => {
  it('--help lists its options and examples; a bad port or --api-auth is refused', async () => {
    const help = await runCli(['serve', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: sd-mali serve');
    for (const flag of ['--model', '--host', '--port', '--api-auth', '--queue-size', '--cors-origin', '--device', '--runtime']) expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain('Examples:');
    const port = await runCli(['serve', '--port', '70000']);
    expect(port.status).not.toBe(0);
    expect(port.stderr).toContain('must be a port number');
    const auth = await runCli(['serve', '--api-auth', 'nocolon']);
    expect(auth.status).toBe(1);
    expect(auth.stderr).toMatch(/^sd-mali: --api-auth takes user:password/);
  });
});

describe.skipIf(!serverReady.available)(titled('sd-mali serve when its worker dies', serverReady), () => {
  let server: ChildProcess | undefined;
  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('kill -9 of the worker mid-run: that request 500s, the next succeeds after the restart, the server pid is unchanged', async () => {
    server = startCli(
      ['serve', '--model', serverStandin.path, '--tokenizer', serverTokenizer.path, '--device', 'cpu', '--runtime', serverRuntime.path, '--port', '0'],
      { env: cliEnv() },
    );
    let stdout = '';
    let stderr = '';
    server.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await waitFor('the listening line', () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1]);
    const serverPid = server.pid!;
    const [worker] = childrenOf(serverPid);
    expect(worker).toBeGreaterThan(0);

    const run = postJson<{ detail: string }>(`${url}/sdapi/v1/txt2img`, { prompt: 'doomed', steps: 150, seed: 1 });
    await waitForProgress(url, (p) => p.state.sampling_step > 0);
    process.kill(worker!, 'SIGKILL');
    const failed = await run;
    expect(failed.status).toBe(500);
    expect(failed.body.detail).toMatch(new RegExp(`^the generation worker \\(pid ${worker}\\) was killed by SIGKILL during this request; a new worker is being started`));

    const next = await postJson<Txt2ImgResponse>(`${url}/sdapi/v1/txt2img`, { prompt: 'after the restart', steps: 4, seed: 2 });
    expect(next.status).toBe(200);
    expect(pngSize(Buffer.from(next.body.images[0]!, 'base64'))).toEqual([512, 512]);
    expect(server.exitCode).toBeNull();
    expect(server.pid).toBe(serverPid);
    const [replacement] = childrenOf(serverPid);
    expect(replacement).toBeGreaterThan(0);
    expect(replacement).not.toBe(worker);
    expect(stderr).toContain(`the generation worker (pid ${worker}) was killed by SIGKILL; starting a new one in 500 ms`);
  });
});
