/** The real server in a child process (test/fixtures/server-child.mjs), and how to probe it from outside. */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { ServerOptions } from '../../lib/server/index.js';
import { serverRuntime, serverStandin, serverTokenizer } from './server.js';
import { REPO_ROOT } from './shared-data.js';

export interface ChildServer {
  child: ChildProcess;
  url: string;
  logs: string[];
  workerPid(): Promise<{ workerPid: number | null; restarts: number }>;
  /**
   * Since resetStall: the server's longest event-loop stall in wall time (scheduling by a
   * loaded machine included) and the CPU its main thread burnt in the worst one (the server's own).
   */
  stall(): Promise<{ wallMs: number; cpuMs: number }>;
  resetStall(): Promise<void>;
  /** Resident memory of the server process (not its worker), in MiB. */
  rssMiB(): number;
  close(): Promise<void>;
}

export async function startChildServer(options: Partial<ServerOptions> = {}): Promise<ChildServer> {
  const child = fork(join(REPO_ROOT, 'test', 'fixtures', 'server-child.mjs'), [
    JSON.stringify({ model: serverStandin.path, tokenizer: serverTokenizer.path, runtime: serverRuntime.path, device: 'cpu', port: 0, ...options }),
  ], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const logs: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (m: { url?: string; error?: string; log?: string }) => {
      if (m.log !== undefined) logs.push(m.log);
      if (m.url) resolve(m.url);
      if (m.error) reject(new Error(m.error));
    });
    child.once('exit', (code) => reject(new Error(`the server child exited with ${code}`)));
  });
  return {
    child,
    url,
    logs,
    workerPid: () =>
      new Promise((resolve) => {
        const on = (m: { workerPid?: number | null; restarts?: number }): void => {
          if (m.workerPid === undefined) return;
          child.off('message', on);
          resolve({ workerPid: m.workerPid, restarts: m.restarts ?? 0 });
        };
        child.on('message', on);
        child.send({ type: 'workerPid' });
      }),
    stall: () => ask<{ wallMs: number; cpuMs: number }>(child, { type: 'stall' }, 'stall'),
    resetStall: () => ask<boolean>(child, { type: 'stall-reset' }, 'stallReset').then(() => undefined),
    rssMiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'close' });
      // A server wedged by a hostile request never reads the message: kill it (its worker
      // leaves when the IPC channel closes).
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

function ask<T>(child: ChildProcess, message: { type: string }, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>): void => {
      if (!(key in m)) return;
      child.off('message', on);
      resolve(m[key] as T);
    };
    child.on('message', on);
    child.send(message);
  });
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request with any headers (fetch will not send a Host of our choosing). */
export function rawRequest(url: string, init: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method: init.method ?? 'GET', path: init.path, headers: init.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface OthersWaited {
  /** CPU the server's main thread burnt in its longest event-loop stall: the wait the server caused. */
  serverBlockedMs: number;
  /** That stall in wall time, the machine's scheduling included. */
  serverStallMs: number;
  /** The slowest of pings sent one after another: what a client saw. */
  slowestPingMs: number;
}

/** While `work` runs: how long the server made everyone else wait. */
export async function othersWhile(s: ChildServer, work: () => Promise<unknown>): Promise<OthersWaited> {
  await s.resetStall();
  const running = work();
  const { slowestMs } = await slowestPingWhile(s.url, running);
  const stall = await s.stall();
  return { serverBlockedMs: stall.cpuMs, serverStallMs: stall.wallMs, slowestPingMs: slowestMs };
}

/** Pings the server one request after another while `work` runs; the slowest answer in ms. */
export async function slowestPingWhile(url: string, work: Promise<unknown>): Promise<{ slowestMs: number; pings: number }> {
  let settled = false;
  const done = work.then(
    () => (settled = true),
    () => (settled = true),
  );
  let slowestMs = 0;
  let pings = 0;
  while (!settled || pings < 3) {
    const t = performance.now();
    const r = await rawRequest(url, { path: '/internal/ping' });
    if (r.status !== 200) throw new Error(`ping answered ${r.status}`);
    slowestMs = Math.max(slowestMs, performance.now() - t);
    pings++;
  }
  await done;
  return { slowestMs, pings };
}
