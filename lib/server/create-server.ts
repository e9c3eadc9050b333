/**
 * createServer: AUTOMATIC1111's web API (/sdapi/v1/…) and a small page over fastify, with the
 * pipeline in a worker process that is restarted when it dies.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../errors.js';
import { packageRoot } from '../tvm/native.js';
import { checkBasicAuth, parseApiAuth } from './auth.js';
import { BODY_LIMITS } from './body-limits.js';
import type { ServerContext } from './context.js';
import { makeErrorHandler } from './http-errors.js';
import { allowedHostNames, checkCrossSitePost, checkHost, registerJsonParser } from './http-guards.js';
import { LocalBackend } from './generation-backend.js';
import { redactRedisUrl } from '../cluster/redis-url.js';
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
  type ServerOptions,
} from './options.js';
import { ProgressTracker } from './progress-tracker.js';
import { GenerationQueue } from './queue.js';
import { registerCatalog } from './routes/catalog.js';
import { registerPage } from './routes/page.js';
import { registerPngInfo } from './routes/png-info.js';
import { registerProgress } from './routes/progress.js';
import { registerTxt2Img } from './routes/txt2img.js';
import { registerImg2Img } from './routes/img2img.js';
import type { WorkerInfo } from './worker/protocol.js';
import { WorkerSupervisor } from './worker/supervisor.js';

export interface SdMaliServer {
  /** Loads the model in the worker, then listens; resolves with the server's URL. */
  listen(): Promise<string>;
  /** Stops listening and stops the worker. */
  close(): Promise<void>;
  /** http://host:port once listening. */
  readonly url: string | undefined;
  /** The generation worker's pid (undefined while it restarts). */
  readonly workerPid: number | undefined;
  /** How many times the worker was replaced. */
  readonly workerRestarts: number;
}

/** The compiled worker entry: beside this file when running from dist/, else the package's dist/. */
export function defaultWorkerEntry(): string {
  const sibling = fileURLToPath(new URL('./worker/main.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  return join(packageRoot(), 'dist', 'lib', 'server', 'worker', 'main.js');
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function createServer(options: ServerOptions): SdMaliServer {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const credentials = options.apiAuth !== undefined ? parseApiAuth(options.apiAuth) : undefined;
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  if (!Number.isInteger(queueSize) || queueSize < 0) throw new InvalidArgumentError(`queueSize must be an integer >= 0, got ${queueSize}`);
  const workerEntry = options.workerEntry ?? defaultWorkerEntry();
  if (options.model === undefined && options.redis === undefined) throw new InvalidArgumentError('createServer needs a model directory (model) or a Redis URL (redis)');
  const modelDir = resolve(options.model ?? '.');
  const watchdog = { ...DEFAULT_WATCHDOG, ...options.watchdog };
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  for (const [name, ms] of Object.entries({ ...watchdog, ...timeouts })) {
    if (!Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got ${ms}`);
  }
  const allowedHosts = allowedHostNames(host, isLoopback(host), options.allowedHosts);
  const supervisor = new WorkerSupervisor(
    workerEntry,
    {
      model: modelDir,
      ...(options.tokenizer !== undefined ? { tokenizer: resolve(options.tokenizer) } : {}),
      ...(options.device !== undefined ? { device: options.device } : {}),
      ...(options.runtime !== undefined ? { runtime: resolve(options.runtime) } : {}),
      ...(options.allowCpuOpenCl ? { allowCpuOpenCl: true } : {}),
    },
    { ...DEFAULT_BACKOFF, ...options.restartBackoff },
    log,
    watchdog,
  );
  const ctx: ServerContext = {
    // Replaced in listen() by the Redis queue when options.redis is set.
    backend: new LocalBackend(() => ctx),
    supervisor,
    queue: new GenerationQueue(queueSize),
    tracker: new ProgressTracker(),
    limits,
    model: () => ctx.backend.model().info,
    identity: () => ctx.backend.model().identity,
    outputDir: resolve(options.outputDir ?? DEFAULT_OUTPUT_DIR),
    flags: {
      api: true,
      nowebui: false,
      listen: !isLoopback(host),
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
      outdir_txt2img_samples: resolve(options.outputDir ?? DEFAULT_OUTPUT_DIR),
    },
    settings: {},
    version: packageVersion(),
    log,
  };

  const app: FastifyInstance = Fastify({
    logger: false,
    // Per route below; this is for any route that names none.
    bodyLimit: BODY_LIMITS.fallback,
    forceCloseConnections: true,
    // A request (headers and body) that does not arrive in time is dropped, so stalled
    // uploads cannot pin memory; an idle socket is closed (txt2img lifts it once its body is in).
    requestTimeout: timeouts.requestTimeoutMs,
    connectionTimeout: timeouts.connectionTimeoutMs,
    // Node checks requestTimeout every connectionsCheckingInterval (30 s by default).
    http: { connectionsCheckingInterval: timeouts.checkIntervalMs },
    ajv: { customOptions: { allErrors: true } },
  });
  app.setErrorHandler(makeErrorHandler(log));
  registerJsonParser(app);
  app.addHook('onRequest', async (request) => checkHost(allowedHosts, request));
  app.setNotFoundHandler((_request, reply) => void reply.code(404).send({ detail: 'Not Found' }));
  if (options.corsOrigin !== undefined) {
    const origin = options.corsOrigin;
    app.addHook('onRequest', async (request, reply) => {
      void reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        void reply
          .header('access-control-allow-methods', 'GET, POST, OPTIONS')
          .header('access-control-allow-headers', 'authorization, content-type')
          .code(204)
          .send();
      }
    });
  }
  app.addHook('onRequest', async (request) => checkCrossSitePost(options.corsOrigin, request));
  if (credentials) {
    app.addHook('onRequest', async (request) => {
      if (request.method === 'OPTIONS' || request.url === '/internal/ping') return;
      checkBasicAuth(credentials, request.headers.authorization);
    });
  }
  registerPage(app);
  registerCatalog(app, ctx);
  registerProgress(app, ctx);
  registerPngInfo(app, limits.bodyLimit);
  registerTxt2Img(app, ctx);
  registerImg2Img(app, ctx);

  let url: string | undefined;
  return {
    async listen(): Promise<string> {
      if (options.redis !== undefined) {
        // Loaded only here: a server without --redis never loads BullMQ.
        const { RemoteBackend } = await import('../cluster/remote-backend.js');
        ctx.backend = new RemoteBackend({ redis: options.redis, log });
      } else if (!existsSync(workerEntry)) {
        throw new InvalidArgumentError(`the generation worker ${workerEntry} is not built: run npm run build:ts`);
      }
      try {
        await ctx.backend.start();
        await app.listen({ host, port });
      } catch (err) {
        await ctx.backend.close();
        throw err;
      }
      const address = app.server.address();
      const boundPort = typeof address === 'object' && address ? address.port : port;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
      if (!isLoopback(host) && !credentials) {
        log(`sd-mali serve: warning: listening on ${host} without --api-auth: anyone who can reach this machine can use the API and the GPU`);
      }
      return url;
    },
    async close(): Promise<void> {
      await ctx.backend.close();
      await app.close();
    },
    get url() {
      return url;
    },
    get workerPid() {
      return supervisor.info?.pid;
    },
    get workerRestarts() {
      return supervisor.restarts;
    },
  };
}
