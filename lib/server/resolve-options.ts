/**
 * createServer's options resolved in one place: defaults filled in, paths made absolute,
 * numbers checked (an InvalidArgumentError before anything starts), and what each part of
 * the server takes derived from them.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactRedisUrl } from '../cluster/redis-url.js';
import { InvalidArgumentError } from '../errors.js';
import { packageRoot } from '../tvm/native.js';
import { parseApiAuth, type Credentials } from './auth.js';
import { allowedHostNames } from './http-guards.js';
import {
  DEFAULT_BACKOFF,
  DEFAULT_HOST,
  DEFAULT_LIMITS,
  DEFAULT_OUTPUT_DIR,
  DEFAULT_PORT,
  DEFAULT_QUEUE_SIZE,
  DEFAULT_TIMEOUTS,
  DEFAULT_WATCHDOG,
  isLoopback,
  type RestartBackoff,
  type ServerLimits,
  type ServerOptions,
  type ServerTimeouts,
  type Watchdog,
} from './options.js';
import type { WorkerConfig } from './worker/protocol.js';

export interface ResolvedServerOptions {
  host: string;
  port: number;
  /** The bind reaches only this machine. */
  loopback: boolean;
  limits: ServerLimits;
  log: (line: string) => void;
  credentials: Credentials | undefined;
  queueSize: number;
  workerEntry: string;
  /** What the generation worker loads (absolute paths). */
  worker: WorkerConfig;
  backoff: RestartBackoff;
  watchdog: Watchdog;
  timeouts: ServerTimeouts;
  /** Host header names answered; undefined: any. */
  allowedHosts: Set<string> | undefined;
  corsOrigin: string | undefined;
  /** Absolute; save_images writes here and nowhere else. */
  outputDir: string;
  redis: string | undefined;
  /** The options as A1111's /cmd-flags shows them (no secrets). */
  flags: Record<string, unknown>;
}

/** The compiled worker entry: beside this file when running from dist/, else the package's dist/. */
export function defaultWorkerEntry(): string {
  const sibling = fileURLToPath(new URL('./worker/main.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  return join(packageRoot(), 'dist', 'lib', 'server', 'worker', 'main.js');
}

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  if (options.model === undefined && options.redis === undefined) throw new InvalidArgumentError('createServer needs a model directory (model) or a Redis URL (redis)');
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const loopback = isLoopback(host);
  const credentials = options.apiAuth !== undefined ? parseApiAuth(options.apiAuth) : undefined;
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  if (!Number.isInteger(queueSize) || queueSize < 0) throw new InvalidArgumentError(`queueSize must be an integer >= 0, got ${queueSize}`);
  const watchdog = { ...DEFAULT_WATCHDOG, ...options.watchdog };
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  for (const [name, ms] of Object.entries({ ...watchdog, ...timeouts })) {
    if (!Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got ${ms}`);
  }
  const modelDir = resolve(options.model ?? '.');
  const allowedHosts = allowedHostNames(host, loopback, options.allowedHosts);
  const outputDir = resolve(options.outputDir ?? DEFAULT_OUTPUT_DIR);
  return {
    host,
    port,
    loopback,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
    credentials,
    queueSize,
    workerEntry: options.workerEntry ?? defaultWorkerEntry(),
    worker: {
      model: modelDir,
      ...(options.tokenizer !== undefined ? { tokenizer: resolve(options.tokenizer) } : {}),
      ...(options.device !== undefined ? { device: options.device } : {}),
      ...(options.runtime !== undefined ? { runtime: resolve(options.runtime) } : {}),
      ...(options.allowCpuOpenCl ? { allowCpuOpenCl: true } : {}),
      ...(options.programCache !== undefined ? { programCache: typeof options.programCache === 'string' ? resolve(options.programCache) : false } : {}),
    },
    backoff: { ...DEFAULT_BACKOFF, ...options.restartBackoff },
    watchdog,
    timeouts,
    allowedHosts,
    corsOrigin: options.corsOrigin,
    outputDir,
    redis: options.redis,
    flags: {
      api: true,
      nowebui: false,
      listen: !loopback,
      server_name: host,
      port,
      api_auth: credentials ? '(set)' : null,
      ckpt: options.redis !== undefined ? null : modelDir,
      redis: options.redis !== undefined ? redactRedisUrl(options.redis) : null,
      device: options.device ?? null,
      runtime: options.runtime ?? null,
      queue_size: queueSize,
      cors_allow_origins: options.corsOrigin ?? null,
      allowed_hosts: allowedHosts ? [...allowedHosts] : null,
      outdir_txt2img_samples: outputDir,
    },
  };
}
