/**
 * createServer: AUTOMATIC1111's web API (/sdapi/v1/…) and a small page over fastify, with the
 * pipeline in a worker process that is restarted when it dies (or, with `redis`, on the
 * boards of a cluster). The parts are put together here; the options are resolved in
 * resolve-options.ts, the HTTP hooks live in http-app.ts, each route in routes/.
 */
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import type { ServerContext } from './context.js';
import { LocalBackend } from './generation-backend.js';
import { createHttpApp } from './http-app.js';
import type { ServerOptions } from './options.js';
import { ProgressTracker } from './progress-tracker.js';
import { GenerationQueue } from './queue.js';
import { resolveServerOptions } from './resolve-options.js';
import { registerCatalog } from './routes/catalog.js';
import { registerPage } from './routes/page.js';
import { registerPngInfo } from './routes/png-info.js';
import { registerProgress } from './routes/progress.js';
import { registerTxt2Img } from './routes/txt2img.js';
import { registerImg2Img } from './routes/img2img.js';
import type { WorkerInfo } from './worker/protocol.js';
import { WorkerSupervisor } from './worker/supervisor.js';

export { defaultWorkerEntry } from './resolve-options.js';

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

export function createServer(options: ServerOptions): SdMaliServer {
  const resolved = resolveServerOptions(options);
  const { host, port, log, workerEntry } = resolved;
  const supervisor = new WorkerSupervisor(workerEntry, resolved.worker, resolved.backoff, log, resolved.watchdog);
  const ctx: ServerContext = {
    // Replaced in listen() by the Redis queue when options.redis is set.
    backend: new LocalBackend(() => ctx),
    supervisor,
    queue: new GenerationQueue(resolved.queueSize),
    tracker: new ProgressTracker(),
    limits: resolved.limits,
    model: () => ctx.backend.model().info,
    identity: () => ctx.backend.model().identity,
    outputDir: resolved.outputDir,
    flags: resolved.flags,
    settings: {},
    version: packageVersion(),
    log,
  };

  const app = createHttpApp(resolved);
  registerPage(app);
  registerCatalog(app, ctx);
  registerProgress(app, ctx);
  registerPngInfo(app, resolved.limits.bodyLimit);
  registerTxt2Img(app, ctx);
  registerImg2Img(app, ctx);

  let url: string | undefined;
  return {
    async listen(): Promise<string> {
      if (resolved.redis !== undefined) {
        // Loaded only here: a server without --redis never loads BullMQ.
        const { RemoteBackend } = await import('../cluster/remote-backend.js');
        ctx.backend = new RemoteBackend({ redis: resolved.redis, log });
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
      if (!resolved.loopback && !resolved.credentials) {
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
