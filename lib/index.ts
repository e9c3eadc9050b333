/**
 * sd-mali: Stable Diffusion 1.x on TVM-compiled models, from Node.js.
 */
export * as tvm from './tvm/index.js';
export * from './errors.js';
export * from './artifacts/index.js';
