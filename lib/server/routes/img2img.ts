/**
 * POST /sdapi/v1/img2img: A1111's img2img and inpainting request and response, through the
 * same queue, progress and interrupt as txt2img. The init image and mask are checked before
 * the request queues; the worker decodes and resizes them (A1111's resize_mode) and runs
 * diffusers' img2img or 4-channel inpainting pipeline.
 */
import type { FastifyInstance } from 'fastify';
import { AbortError } from '../../errors.js';
import { BAKED_GUIDANCE_SCALE } from '../../pipeline/index.js';
import { randomSeed } from '../../pipeline/options.js';
import type { ServerContext } from '../context.js';
import { runJob, type JobResult } from '../generation-job.js';
import { fieldError, HttpError } from '../http-errors.js';
import { IMG2IMG_BODY_LIMIT, IMG2IMG_FIELDS, img2imgSchema, readImg2ImgInputs, type Img2ImgRequest } from '../img2img-request.js';
import { chooseSampler } from '../samplers.js';
import { saveImage } from '../save-images.js';
import { echoParameters } from '../txt2img-request.js';
import { WorkerCrashedError, WorkerJobError, WorkerLoadError } from '../worker/supervisor.js';

/** Worker failures as HTTP: the client's fault (a bad image or option) is a 422, a model without vae_encode a 501. */
function toHttpError(err: unknown): unknown {
  if (err instanceof WorkerCrashedError) return new HttpError(500, err.message);
  if (err instanceof WorkerLoadError) return new HttpError(503, err.message);
  if (err instanceof WorkerJobError) {
    const code = err.failure.code;
    const status = code === 'INVALID_ARGUMENT' || code === 'INVALID_IMAGE' ? 422 : code === 'REBUILD_REQUIRED' ? 501 : 500;
    return new HttpError(status, `${err.failure.name}: ${err.failure.message.split('\n')[0]}`);
  }
  return err;
}

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
    const count = body.batch_size * body.n_iter;
    if (count > ctx.limits.maxImages) throw fieldError('batch_size', `batch_size × n_iter is ${count}; this server makes at most ${ctx.limits.maxImages} images per request`);
    const sampler = chooseSampler(body.sampler_name ?? body.sampler_index, body.scheduler ?? undefined);
    if (!sampler.ok) throw new HttpError(400, sampler.message);
    const steps = Math.trunc(body.steps * body.denoising_strength);
    if (steps < 1) throw fieldError('denoising_strength', `with ${body.steps} steps, strength ${body.denoising_strength} leaves no step to run (int(steps × strength) is 0)`);

    const baked = model.guidanceBaked;
    const cfgApplied = baked ? BAKED_GUIDANCE_SCALE : body.cfg_scale;
    const firstSeed = body.seed === -1 ? randomSeed() : BigInt(body.seed);
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) gone.abort(new Error('the client disconnected'));
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
              firstSeed,
              count,
              guidanceScale: baked ? undefined : body.cfg_scale,
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
      throw toHttpError(err);
    }

    const made = result.images;
    if (body.save_images) for (const m of made) await saveImage(ctx.outputDir, m.image.png, m.image.seed, result.jobTimestamp);
    const notes: Record<string, string> = {};
    if (inputs.mask && body.inpainting_fill !== 1) notes['Masked content'] = `original (inpainting_fill ${body.inpainting_fill} is run as 1, original)`;
    if (inputs.mask && body.inpaint_full_res) notes['Inpaint area'] = 'Whole picture (inpaint_full_res is not used)';
    if (body.image_cfg_scale !== null) notes['Image CFG scale'] = 'ignored (instruct-pix2pix models only)';
    const info = {
      prompt: body.prompt,
      all_prompts: Array(count).fill(body.prompt),
      negative_prompt: body.negative_prompt,
      all_negative_prompts: Array(count).fill(body.negative_prompt),
      seed: Number(firstSeed),
      all_seeds: Array.from({ length: count }, (_, k) => Number(BigInt.asUintN(64, firstSeed + BigInt(k)))),
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
      sd_model_name: model.modelDir.split('/').pop() ?? '',
      sd_model_hash: null,
      sd_vae_name: null,
      sd_vae_hash: null,
      seed_resize_from_w: -1,
      seed_resize_from_h: -1,
      denoising_strength: body.denoising_strength,
      extra_generation_params: { ...(inputs.mask ? { 'Mask blur': body.mask_blur } : {}), ...notes },
      index_of_first_image: 0,
      infotexts: made.map((m) => m.image.parameters),
      styles: [],
      job_timestamp: result.jobTimestamp,
      clip_skip: 1,
      is_using_inpainting_conditioning: false,
      version: `sd-mali ${ctx.version}`,
      interrupted: result.interrupted,
      skipped_images: result.skipped,
      image_seeds: made.map((m) => Number(m.seed)),
    };
    const parameters: Record<string, unknown> = { ...echoParameters(body), init_images: null, mask: null };
    for (const key of IMG2IMG_FIELDS) parameters[key] = body[key];
    const images = made.map((m) => Buffer.from(m.image.png.buffer, m.image.png.byteOffset, m.image.png.byteLength).toString('base64'));
    if (body.include_init_images) images.push(inputs.image.toString('base64'));
    return { images: body.send_images ? images : [], parameters, info: JSON.stringify(info) };
  });
}
