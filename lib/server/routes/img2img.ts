/**
 * POST /sdapi/v1/img2img: A1111's img2img and inpainting request and response, through the
 * same queue, progress and interrupt as txt2img. The init image and mask are checked before
 * the request queues; the worker decodes and resizes them (A1111's resize_mode) and runs
 * diffusers' img2img or 4-channel inpainting pipeline.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AbortError } from '../../errors.js';
import { BAKED_GUIDANCE_SCALE } from '../../pipeline/index.js';
import { randomSeed } from '../../pipeline/options.js';
import type { ServerContext } from '../context.js';
import { stringifyExact } from '../exact-json.js';
import { MAX_SEED, runJob, seedsOf, type JobResult } from '../generation-job.js';
import { fieldError, HttpError } from '../http-errors.js';
import { IMG2IMG_BODY_LIMIT, IMG2IMG_FIELDS, img2imgSchema, readImg2ImgInputs, type Img2ImgRequest } from '../img2img-request.js';
import { generationInfo, infotextOf } from '../generation-info.js';
import { chooseSampler } from '../samplers.js';
import { saveImage } from '../save-images.js';
import { echoParameters } from '../txt2img-request.js';
import { httpErrorOf } from '../worker/http-status.js';

export function registerImg2Img(app: FastifyInstance, ctx: ServerContext): void {
  // sd-mali's own: the size the model makes and whether it does img2img (A1111 has no such
  // route; its UI knows the checkpoint). The page sends this width and height.
  app.get('/internal/sd-mali/model', async () => {
    const model = ctx.model();
    return { width: model.width, height: model.height, canEncodeImages: model.canEncodeImages, guidanceBaked: model.guidanceBaked };
  });

  app.post<{ Body: Img2ImgRequest }>('/sdapi/v1/img2img', { bodyLimit: IMG2IMG_BODY_LIMIT, schema: { body: img2imgSchema(ctx.limits) } }, async (request, reply) => {
    const body = request.body;
    const model = ctx.model();
    const identity = ctx.identity();
    // The images first: a client sending a broken one hears about it whatever the model.
    const inputs = await readImg2ImgInputs(body);
    if (!model.canEncodeImages) {
      throw new HttpError(501, `img2img needs a model with a VAE encoder (vae_encode); ${model.modelDir} was built without one: rebuild it with sd-mali build`);
    }
    if (body.width !== model.width || body.height !== model.height) {
      const field = body.width !== model.width ? 'width' : 'height';
      throw fieldError(field, `this model is compiled for one size, ${model.width}x${model.height}; ${body.width}x${body.height} cannot be made (send width ${model.width} and height ${model.height}; the init image is resized to it)`);
    }
    if (body.denoising_strength <= 0) throw fieldError('denoising_strength', 'must be above 0: at 0 nothing would be redrawn');
    if (Math.trunc(body.steps * body.denoising_strength) < 1) {
      throw fieldError('denoising_strength', `with ${body.steps} steps, strength ${body.denoising_strength} leaves no step to run (int(steps × strength) is 0)`);
    }
    const count = body.batch_size * body.n_iter;
    if (count > ctx.limits.maxImages) throw fieldError('batch_size', `batch_size × n_iter is ${count}; this server makes at most ${ctx.limits.maxImages} images per request`);
    const sampler = chooseSampler(body.sampler_name ?? body.sampler_index, body.scheduler);
    for (const note of sampler.corrections) ctx.log(`sd-mali serve: img2img: ${note}`);

    const baked = model.guidanceBaked;
    const cfgApplied = baked ? BAKED_GUIDANCE_SCALE : body.cfg_scale;
    // -1 and null: random, as A1111's get_fixed_seed.
    const firstSeed = body.seed === null || body.seed === -1 ? randomSeed() : BigInt(body.seed);
    const allSeeds = seedsOf({ firstSeed, count });
    if (allSeeds.at(-1)! > MAX_SEED) throw fieldError('seed', `seed ${firstSeed} + ${count - 1} images passes 2^64-1`);
    const taskId = body.force_task_id ?? `task(${randomUUID().replace(/-/g, '').slice(0, 15)})`;
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) gone.abort(new Error('the client disconnected'));
    });
    // The body is in: a generation that takes minutes must not be cut by the idle-socket timeout.
    request.raw.socket.setTimeout(0);

    const masked = inputs.mask !== undefined;
    // What A1111 would do differently, said in the infotext and in info rather than silently.
    const notes: Record<string, string> = {};
    if (masked && body.inpainting_fill !== 1) notes['Masked content'] = `original (inpainting_fill ${body.inpainting_fill} runs as 1)`;
    if (masked && body.inpaint_full_res) notes['Inpaint area'] = 'Whole picture (inpaint_full_res is not used)';
    // A1111's create_infotext order: Denoising strength after Model, the img2img extras (Mask blur) before Version.
    const infotext = infotextOf({
      ...{ prompt: body.prompt, negativePrompt: body.negative_prompt, steps: body.steps, sampler, cfgScale: cfgApplied, model, identity, version: ctx.version },
      afterModel: [['Denoising strength', body.denoising_strength]],
      beforeVersion: [['Mask blur', masked ? body.mask_blur : undefined], ...Object.entries(notes)],
    });

    let result: JobResult;
    try {
      result = await ctx.queue.run(
        () =>
          runJob(
            ctx,
            {
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
              img2img: {
                image: inputs.image,
                ...(inputs.mask ? { mask: inputs.mask, maskBlur: body.mask_blur, invertMask: body.inpainting_mask_invert === 1 } : {}),
                strength: body.denoising_strength,
                // 3 (latent upscale) has no meaning at a fixed size: it resizes as 0.
                resizeMode: (body.resize_mode === 3 ? 0 : body.resize_mode) as 0 | 1 | 2,
              },
            },
            gone.signal,
          ),
        gone.signal,
      );
    } catch (err) {
      if (err instanceof AbortError && gone.signal.aborted) {
        ctx.log(`sd-mali serve: img2img dropped: ${err.message}`);
        return reply.code(499).send({ detail: 'client disconnected' });
      }
      throw httpErrorOf(err);
    }

    const made = result.images;
    if (body.save_images) for (const m of made) await saveImage(ctx.outputDir, m.image.png, m.image.seed, result.jobTimestamp);
    const info = generationInfo({
      ...{ body, count, firstSeed, allSeeds, model, identity, sampler, cfgApplied, baked, result, version: ctx.version },
      denoisingStrength: body.denoising_strength,
      extraGenerationParams: { ...(masked ? { 'Mask blur': body.mask_blur } : {}), ...notes, ...(body.image_cfg_scale !== null ? { 'Image CFG scale': 'ignored (instruct-pix2pix models only)' } : {}) },
    });
    const parameters: Record<string, unknown> = { ...echoParameters(body), init_images: null, mask: null };
    for (const key of IMG2IMG_FIELDS) parameters[key] = body[key];
    const images = made.map((m) => Buffer.from(m.image.png.buffer, m.image.png.byteOffset, m.image.png.byteLength).toString('base64'));
    if (body.include_init_images) images.push(inputs.image.toString('base64'));
    return { images: body.send_images ? images : [], parameters, info: stringifyExact(info) };
  });
}
