/**
 * The read-mostly endpoints A1111 clients call to fill their menus: samplers, schedulers,
 * models, options, flags, memory, the lists sd-mali has nothing in, and /internal/ping.
 */
import { freemem, totalmem } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { SAMPLERS, SCHEDULE_TYPES } from '../samplers.js';

/** The default model's title: the one POST /options chose, else the backend's default. */
function modelTitle(ctx: ServerContext): string {
  const chosen = ctx.settings['sd_model_checkpoint'];
  return ctx.backend.model(typeof chosen === 'string' ? chosen : undefined).title;
}

export function registerCatalog(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/internal/ping', async () => ({}));
  app.get('/sdapi/v1/samplers', async () => SAMPLERS.map((s) => ({ name: s.name, aliases: s.aliases, options: {} })));
  app.get('/sdapi/v1/schedulers', async () => SCHEDULE_TYPES);
  app.get('/sdapi/v1/sd-models', async () =>
    ctx.backend.models().map((m) => ({ title: m.title, model_name: m.title, hash: null, sha256: null, filename: m.info.modelDir, config: null })),
  );
  app.get('/sdapi/v1/options', async () => ({
    ...ctx.settings,
    sd_model_checkpoint: modelTitle(ctx),
    samples_save: true,
    samples_format: 'png',
    outdir_txt2img_samples: ctx.outputDir,
    live_previews_enable: true,
    show_progress_type: 'Approx cheap',
  }));
  // Options are kept for GET; sd_model_checkpoint only accepts a model the backend serves
  // (the one --model loaded, or with --redis one that a live worker serves).
  app.post<{ Body: Record<string, unknown> }>('/sdapi/v1/options', { schema: { body: { type: 'object' } } }, async (request) => {
    const { sd_model_checkpoint: checkpoint, ...rest } = request.body;
    if (checkpoint !== undefined) {
      const served = ctx.backend.models().map((m) => m.title);
      if (typeof checkpoint === 'string' && served.includes(checkpoint)) ctx.settings['sd_model_checkpoint'] = checkpoint;
      else ctx.log(`sd-mali serve: ignoring sd_model_checkpoint '${String(checkpoint)}': this server serves ${served.map((t) => `'${t}'`).join(', ')}`);
    }
    Object.assign(ctx.settings, rest);
    return null;
  });
  app.get('/sdapi/v1/cmd-flags', async () => ctx.flags);
  app.get('/sdapi/v1/memory', async () => {
    const total = totalmem();
    const free = freemem();
    const rss = process.memoryUsage().rss;
    return { ram: { free, used: total - free, total, server_rss: rss }, cuda: { error: 'sd-mali runs on OpenCL through TVM; no CUDA statistics' } };
  });
  for (const name of ['loras', 'upscalers', 'scripts', 'extensions', 'embeddings', 'hypernetworks', 'face-restorers', 'prompt-styles', 'sd-vae']) {
    app.get(`/sdapi/v1/${name}`, async () => (name === 'scripts' ? { txt2img: [], img2img: [] } : name === 'embeddings' ? { loaded: {}, skipped: {} } : []));
  }
}
