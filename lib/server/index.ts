/** sd-mali's web server: AUTOMATIC1111's API and a small page, the GPU in a worker process. */
export { createServer, defaultWorkerEntry, type SdMaliServer } from './create-server.js';
export { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_QUEUE_SIZE, DEFAULT_LIMITS, type ServerOptions, type ServerLimits, type RestartBackoff } from './options.js';
export { SAMPLERS, chooseSampler, type A1111Sampler } from './samplers.js';
export { latentPreview, APPROX_CHEAP_COEFFICIENTS } from './preview.js';
export { GUIDANCE_HEADER } from './routes/txt2img.js';
export { LocalBackend, servesCheckpoint, type GenerationBackend, type Caller, type ServedModel } from './generation-backend.js';
export { modelIdentity, type ModelIdentity } from './model-identity.js';
