/** POST /sdapi/v1/txt2img: A1111's request and response, run through the queue on the worker. */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AbortError } from '../../errors.js';
import { BAKED_GUIDANCE_SCALE } from '../../pipeline/index.js';
import { randomSeed } from '../../pipeline/options.js';
import { BODY_LIMITS } from '../body-limits.js';
import type { ServerContext } from '../context.js';
import { stringifyExact } from '../exact-json.js';
import { callerOf, requestedCheckpoint } from '../caller.js';
import { MAX_SEED, seedsOf, type JobResult } from '../generation-job.js';
import { fieldError } from '../http-errors.js';
import { logValue } from '../log-value.js';
import { chooseSampler } from '../samplers.js';
import { saveImage } from '../save-images.js';
import { generationInfo, infotextOf } from '../generation-info.js';
import { applyInfotext, echoParameters, txt2imgSchema, type Txt2ImgRequest } from '../txt2img-request.js';
import { httpErrorOf } from '../worker/http-status.js';

/** Says which guidance scale was applied when the executable bakes its own in. */
export const GUIDANCE_HEADER = 'x-sd-mali-guidance';

/** The checkpoint POST /options chose, if any. */
export function settingsCheckpoint(ctx: ServerContext): string | undefined {
  const name = ctx.settings['sd_model_checkpoint'];
  return typeof name === 'string' ? name : undefined;
}

/** The fields the client set itself (before the schema filled defaults): infotext fills only the others. */
const setFields = new WeakMap<FastifyRequest, Set<string>>();

export function registerTxt2Img(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: Txt2ImgRequest }>(
    '/sdapi/v1/txt2img',
    {
      bodyLimit: BODY_LIMITS.txt2img,
      schema: { body: txt2imgSchema(ctx.limits) },
      preValidation: async (request) => {
        const raw = request.body as unknown;
        setFields.set(request, new Set(raw !== null && typeof raw === 'object' ? Object.keys(raw).filter((k) => (raw as Record<string, unknown>)[k] !== null) : []));
      },
    },
    async (request, reply) => {
      const body = request.body;
      const fromInfotext = applyInfotext(body, setFields.get(request) ?? new Set(), ctx.limits);
      // override_settings.sd_model_checkpoint, else POST /options' choice, else the default;
      // with --redis, a model no live worker serves is a 503 that says so.
      const served = ctx.backend.model(requestedCheckpoint(body) ?? settingsCheckpoint(ctx));
      const model = served.info;
      const identity = served.identity;
      if (body.width !== model.width || body.height !== model.height) {
        const field = body.width !== model.width ? 'width' : 'height';
        throw fieldError(field, `this model is compiled for one size, ${model.width}x${model.height}; ${body.width}x${body.height} cannot be made (send width ${model.width} and height ${model.height})`);
      }
      const count = body.batch_size * body.n_iter;
      if (count > ctx.limits.maxImages) throw fieldError('batch_size', `batch_size × n_iter is ${count}; this server makes at most ${ctx.limits.maxImages} images per request`);
      const sampler = chooseSampler(body.sampler_name ?? body.sampler_index, body.scheduler);
      for (const note of sampler.corrections) ctx.log(`sd-mali serve: txt2img: ${note}`);

      // A1111 clients send cfg_scale 7 by default: where the unet has its scale compiled in,
      // that one is applied and the response says so rather than failing.
      const baked = model.guidanceBaked;
      const cfgApplied = baked ? BAKED_GUIDANCE_SCALE : body.cfg_scale;
      if (baked) void reply.header(GUIDANCE_HEADER, `baked ${BAKED_GUIDANCE_SCALE}; requested cfg_scale ${body.cfg_scale} not applied`);
      // -1 and null: random, as A1111's get_fixed_seed.
      const firstSeed = fromInfotext.seed ?? (body.seed === null || body.seed === -1 ? randomSeed() : BigInt(body.seed));
      const allSeeds = seedsOf({ firstSeed, count });
      if (allSeeds.at(-1)! > MAX_SEED) throw fieldError('seed', `seed ${firstSeed} + ${count - 1} images passes 2^64-1`);
      const taskId = body.force_task_id ?? `task(${randomUUID().replace(/-/g, '').slice(0, 15)})`;

      // A client that goes away: dropped from the queue, or its run interrupted at the next step.
      const gone = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableEnded) gone.abort(new Error('the client disconnected'));
      });
      // The body is in: the idle-socket timeout (meant for slow or stalled clients) must not
      // cut a generation that takes minutes; a client that leaves is seen by 'close' above.
      request.raw.socket.setTimeout(0);

      const infotext = infotextOf({ prompt: body.prompt, negativePrompt: body.negative_prompt, steps: body.steps, sampler, cfgScale: cfgApplied, model, identity, version: ctx.version });

      let result: JobResult;
      try {
        result = await ctx.backend.run(
          {
            model: served.title,
            prompt: body.prompt,
            negativePrompt: body.negative_prompt,
            steps: body.steps,
            scheduler: sampler.scheduler,
            sigmaSchedule: sampler.sigmaSchedule,
            firstSeed,
            count,
            guidanceScale: baked ? undefined : body.cfg_scale,
            infotext,
            taskId,
          },
          callerOf(request),
          gone.signal,
        );
      } catch (err) {
        if (err instanceof AbortError && gone.signal.aborted) {
          ctx.log(`sd-mali serve: txt2img dropped: ${err.message}`);
          return reply.code(499).send({ detail: 'client disconnected' });
        }
        throw httpErrorOf(err);
      }

      if (gone.signal.aborted) ctx.log(`sd-mali serve: txt2img interrupted: the client disconnected (${result.images.length} of ${count} images made)`);
      const made = result.images;
      if (body.save_images) for (const m of made) await saveImage(ctx.outputDir, m.image.png, m.image.seed, result.jobTimestamp);
      const info = generationInfo({
        ...{ body, count, firstSeed, allSeeds, model, identity, sampler, cfgApplied, baked, result, version: ctx.version },
        denoisingStrength: null,
        extraGenerationParams: baked ? { 'CFG scale': `${BAKED_GUIDANCE_SCALE} (baked into the executable; requested ${body.cfg_scale} not applied)` } : {},
      });
      if (result.interrupted || result.skipped.length > 0) {
        ctx.log(`sd-mali serve: txt2img ${logValue(taskId, 40)}: ${made.length} of ${count} images made${result.interrupted ? ', interrupted' : ''}${result.skipped.length ? `, ${result.skipped.length} skipped` : ''}`);
      }
      return {
        images: body.send_images ? made.map((m) => Buffer.from(m.image.png.buffer, m.image.png.byteOffset, m.image.png.byteLength).toString('base64')) : [],
        parameters: echoParameters(body),
        info: stringifyExact(info),
      };
    },
  );
}
