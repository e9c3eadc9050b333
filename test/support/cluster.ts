/**
 * The cluster's real parts for tests: `sd-mali worker` processes (the package's binary) on
 * the stand-in model on `cpu`, and the cluster's status as `sd-mali status` reads it.
 */
import type { ChildProcess } from 'node:child_process';
import { readClusterStatus, type ClusterStatus, type WorkerHeartbeat } from '../../lib/cluster/index.js';
import { cliEnv, startCli } from './cli.js';
import { serverRuntime, serverStandin, serverTokenizer } from './server.js';

export interface TestWorker {
  name: string;
  process: ChildProcess;
  /** What it printed, stdout and stderr together. */
  output: () => string;
}

/** Starts `sd-mali worker` and resolves once it says it serves the model. */
export async function startWorker(redisUrl: string, name: string, options: { lockMs?: number; env?: Record<string, string> } = {}): Promise<TestWorker> {
  const args = ['worker', '--redis', redisUrl, '--model', serverStandin.path, '--tokenizer', serverTokenizer.path, '--runtime', serverRuntime.path, '--device', 'cpu', '--name', name];
  if (options.lockMs !== undefined) args.push('--lock-ms', String(options.lockMs));
  const child = startCli(args, { env: cliEnv(options.env ?? {}) });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${name} did not start within 60 s:\n${output}`)), 60_000);
    const check = (): void => {
      if (output.includes(' serving ')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited with ${code}:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  return { name, process: child, output: () => output };
}

/** SIGTERM (SIGKILL after 10 s), and waits for the exit. */
export async function stopWorker(worker: TestWorker | undefined): Promise<void> {
  const child = worker?.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

/** Polls the cluster's status until `until` holds (bounded by `timeoutMs`). */
export async function waitForStatus(redisUrl: string, until: (s: ClusterStatus) => boolean, timeoutMs = 30_000): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterStatus | undefined;
  for (;;) {
    try {
      last = await readClusterStatus(redisUrl, 2000);
      if (until(last)) return last;
    } catch {
      // Redis restarting: poll again.
    }
    if (Date.now() > deadline) throw new Error(`the cluster never reached the expected state; last: ${JSON.stringify(last?.workers.map((w) => ({ name: w.name, state: w.state, job: w.job, lastJob: w.lastJob })))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function workerNamed(status: ClusterStatus, name: string): WorkerHeartbeat | undefined {
  return status.workers.find((w) => w.name === name);
}
