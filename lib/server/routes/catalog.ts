/**
 * The read-mostly endpoints A1111 clients call to fill their menus: samplers, schedulers,
 * models, options, flags, memory, the lists sd-mali has nothing in, the refresh and
 * load/unload no-ops, and /internal/ping.
 */
import { freemem, totalmem } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { BODY_LIMITS } from '../body-limits.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { logValue } from '../log-value.js';
import { SAMPLERS, SCHEDULE_TYPES } from '../samplers.js';
import { checkSettings, SETTING_DEFAULTS } from '../settings.js';

/** A1111 answers these with lists; sd-mali has nothing in them. */
const EMPTY_LISTS = ['loras', 'upscalers', 'extensions', 'hypernetworks', 'face-restorers', 'prompt-styles', 'sd-vae', 'latent-upscale-modes', 'realesrgan-models', 'script-info'];

export function registerCatalog(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/internal/ping', async () => ({}));
  app.get('/sdapi/v1/samplers', async () => SAMPLERS.map((s) => ({ name: s.name, aliases: s.aliases, options: s.options })));
  app.get('/sdapi/v1/schedulers', async () => SCHEDULE_TYPES);
  app.get('/sdapi/v1/sd-models', async () => {
    const id = ctx.identity();
    return [{ title: id.title, model_name: id.name, hash: id.shortHash, sha256: id.sha256, filename: ctx.model().modelDir, config: null }];
  });
  app.get('/sdapi/v1/options', async () => ({
    ...SETTING_DEFAULTS,
    outdir_txt2img_samples: ctx.outputDir,
    ...ctx.settings,
    sd_model_checkpoint: ctx.identity().title,
    sd_checkpoint_hash: ctx.identity().sha256 ?? '',
  }));
  // Only known settings with scalar values are kept (settings.ts). The model is fixed by
  // --model: sd_model_checkpoint accepts a name of that model, and A1111's error otherwise.
  app.post<{ Body: Record<string, unknown> | undefined }>(
    '/sdapi/v1/options',
    { bodyLimit: BODY_LIMITS.options, schema: { body: { type: 'object' } } },
    async (request) => {
      const body = request.body ?? {};
      const { accepted, unknown } = checkSettings(body);
      const checkpoint = accepted['sd_model_checkpoint'];
      if (checkpoint !== undefined && checkpoint !== null && !ctx.identity().aliases.includes(String(checkpoint))) {
        throw new HttpError(400, `model ${JSON.stringify(String(checkpoint).slice(0, 200))} not found; this server serves ${JSON.stringify(ctx.identity().title)} only`);
      }
      delete accepted['sd_model_checkpoint'];
      delete accepted['sd_checkpoint_hash'];
      if (unknown.length > 0) {
        const shown = unknown.slice(0, 5).map((k) => logValue(k, 40)).join(', ');
        ctx.log(`sd-mali serve: POST /options ignored ${unknown.length} setting(s) it does not have: ${shown}${unknown.length > 5 ? ', …' : ''}`);
      }
      Object.assign(ctx.settings, accepted);
      return null;
    },
  );
  app.get('/sdapi/v1/cmd-flags', async () => ctx.flags);
  app.get('/sdapi/v1/memory', async () => {
    const total = totalmem();
    const free = freemem();
    const rss = process.memoryUsage().rss;
    return { ram: { free, used: total - free, total, server_rss: rss }, cuda: { error: 'sd-mali runs on OpenCL through TVM; no CUDA statistics' } };
  });
  for (const name of EMPTY_LISTS) app.get(`/sdapi/v1/${name}`, async () => []);
  app.get('/sdapi/v1/scripts', async () => ({ txt2img: [], img2img: [] }));
  app.get('/sdapi/v1/embeddings', async () => ({ loaded: {}, skipped: {} }));
  // A1111's refresh endpoints answer null, unload/reload {}: one model, fixed at start, nothing to do.
  for (const name of ['refresh-checkpoints', 'refresh-vae', 'refresh-embeddings', 'refresh-loras']) {
    app.post(`/sdapi/v1/${name}`, { bodyLimit: BODY_LIMITS.noBody }, async () => null);
  }
  for (const name of ['unload-checkpoint', 'reload-checkpoint']) app.post(`/sdapi/v1/${name}`, { bodyLimit: BODY_LIMITS.noBody }, async () => ({}));
}
