/** POST /sdapi/v1/txt2img: A1111's request and response, run through the queue on the worker. */
import type { FastifyInstance } from 'fastify';
import { AbortError } from '../../errors.js';
import { BAKED_GUIDANCE_SCALE } from '../../pipeline/index.js';
import { randomSeed } from '../../pipeline/options.js';
import type { ServerContext } from '../context.js';
import { callerOf, requestedCheckpoint } from '../caller.js';
import type { JobResult } from '../generation-job.js';
import { fieldError, HttpError } from '../http-errors.js';
import { chooseSampler } from '../samplers.js';
import { saveImage } from '../save-images.js';
import { echoParameters, txt2imgSchema, type Txt2ImgRequest } from '../txt2img-request.js';
import { WorkerCrashedError, WorkerJobError, WorkerLoadError } from '../worker/supervisor.js';

/** Says which guidance scale was applied when the executable bakes its own in. */
export const GUIDANCE_HEADER = 'x-sd-mali-guidance';

function toHttpError(err: unknown): unknown {
  if (err instanceof WorkerCrashedError) return new HttpError(500, err.message);
  if (err instanceof WorkerLoadError) return new HttpError(503, err.message);
  if (err instanceof WorkerJobError) {
    const status = err.failure.code === 'INVALID_ARGUMENT' ? 422 : 500;
    return new HttpError(status, `${err.failure.name}: ${err.failure.message.split('\n')[0]}`);
  }
  return err;
}

/** The checkpoint POST /options chose, if any. */
export function settingsCheckpoint(ctx: ServerContext): string | undefined {
  const name = ctx.settings['sd_model_checkpoint'];
  return typeof name === 'string' ? name : undefined;
}

export function registerTxt2Img(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: Txt2ImgRequest }>('/sdapi/v1/txt2img', { schema: { body: txt2imgSchema(ctx.limits) } }, async (request, reply) => {
    const body = request.body;
    const served = ctx.backend.model(requestedCheckpoint(body) ?? settingsCheckpoint(ctx));
    const model = served.info;
    if (body.width !== model.width || body.height !== model.height) {
      const field = body.width !== model.width ? 'width' : 'height';
      throw fieldError(field, `this model is compiled for one size, ${model.width}x${model.height}; ${body.width}x${body.height} cannot be made (send width ${model.width} and height ${model.height})`);
    }
    const count = body.batch_size * body.n_iter;
    if (count > ctx.limits.maxImages) throw fieldError('batch_size', `batch_size × n_iter is ${count}; this server makes at most ${ctx.limits.maxImages} images per request`);
    const sampler = chooseSampler(body.sampler_name ?? body.sampler_index, body.scheduler ?? undefined);
    if (!sampler.ok) throw new HttpError(400, sampler.message);

    // A1111 clients send cfg_scale 7 by default: where the unet has its scale compiled in,
    // that one is applied and the response says so rather than failing.
    const baked = model.guidanceBaked;
    const cfgApplied = baked ? BAKED_GUIDANCE_SCALE : body.cfg_scale;
    if (baked) void reply.header(GUIDANCE_HEADER, `baked ${BAKED_GUIDANCE_SCALE}; requested cfg_scale ${body.cfg_scale} not applied`);
    const firstSeed = body.seed === -1 ? randomSeed() : BigInt(body.seed);

    // A client that goes away: dropped from the queue, or its run interrupted at the next step.
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) gone.abort(new Error('the client disconnected'));
    });

    let result: JobResult;
    try {
      result = await ctx.backend.run(
        {
          model: served.title,
          prompt: body.prompt,
          negativePrompt: body.negative_prompt,
          steps: body.steps,
          scheduler: sampler.scheduler,
          firstSeed,
          count,
          guidanceScale: baked ? undefined : body.cfg_scale,
        },
        callerOf(request),
        gone.signal,
      );
    } catch (err) {
      if (err instanceof AbortError && gone.signal.aborted) {
        ctx.log(`sd-mali serve: txt2img dropped: ${err.message}`);
        return reply.code(499).send({ detail: 'client disconnected' });
      }
      throw toHttpError(err);
    }

    if (gone.signal.aborted) ctx.log(`sd-mali serve: txt2img interrupted: the client disconnected (${result.images.length} of ${count} images made)`);
    const made = result.images;
    if (body.save_images) for (const m of made) await saveImage(ctx.outputDir, m.image.png, m.image.seed, result.jobTimestamp);
    const allSeeds = Array.from({ length: count }, (_, k) => Number(BigInt.asUintN(64, firstSeed + BigInt(k))));
    const info = {
      prompt: body.prompt,
      all_prompts: Array(count).fill(body.prompt),
      negative_prompt: body.negative_prompt,
      all_negative_prompts: Array(count).fill(body.negative_prompt),
      seed: Number(firstSeed),
      all_seeds: allSeeds,
      subseed: -1,
      all_subseeds: Array(count).fill(-1),
      subseed_strength: 0,
      width: model.width,
      height: model.height,
      sampler_name: sampler.sampler,
      scheduler: sampler.scheduleType,
      cfg_scale: cfgApplied,
      steps: body.steps,
      batch_size: body.batch_size,
      n_iter: body.n_iter,
      restore_faces: false,
      face_restoration_model: null,
      sd_model_name: served.title,
      sd_model_hash: null,
      sd_vae_name: null,
      sd_vae_hash: null,
      seed_resize_from_w: -1,
      seed_resize_from_h: -1,
      denoising_strength: null,
      extra_generation_params: baked ? { 'CFG scale': `${BAKED_GUIDANCE_SCALE} (baked into the executable; requested ${body.cfg_scale} not applied)` } : {},
      index_of_first_image: 0,
      infotexts: made.map((m) => m.image.parameters),
      styles: [],
      job_timestamp: result.jobTimestamp,
      clip_skip: 1,
      is_using_inpainting_conditioning: false,
      version: `sd-mali ${ctx.version}`,
      // sd-mali's own: what the executable did and what stopped early.
      guidance_baked: baked,
      cfg_scale_requested: body.cfg_scale,
      interrupted: result.interrupted,
      skipped_images: result.skipped,
      image_seeds: made.map((m) => Number(m.seed)),
    };
    return {
      images: body.send_images ? made.map((m) => Buffer.from(m.image.png.buffer, m.image.png.byteOffset, m.image.png.byteLength).toString('base64')) : [],
      parameters: echoParameters(body),
      info: JSON.stringify(info),
    };
  });
}
