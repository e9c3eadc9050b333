/** Noise identical to torch.manual_seed(seed); torch.randn(shape) on the CPU. */
export { createGenerator, TorchGenerator } from './torch-generator.js';
export { Mt19937 } from './mt19937.js';
