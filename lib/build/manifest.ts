/** The manifest `sd-mali build` writes beside a model (`sd-mali.json`); docs/artifact-contract.md is its contract. */

export const MANIFEST_FILE = 'sd-mali.json';
export const MANIFEST_FORMAT_VERSION = 1;

export interface TensorSignature {
  name?: string;
  /** Dimensions; a string is a symbolic one (the unet's batch 'B'). */
  shape: Array<number | string>;
  dtype: string;
}

export interface FunctionSignature {
  /** The weight group it takes (records `<params>_0..N-1`), null for parameter-free functions. */
  params: string | null;
  paramCount: number;
  doc: string;
  inputs: TensorSignature[];
  output: TensorSignature;
}

export interface ModelManifest {
  formatVersion: number;
  generator: string;
  tvmVersion: string;
  target: { name: 'mali' | 'opencl' | 'cpu'; deviceKind: 'opencl' | 'cpu'; host: string; tvm: Record<string, unknown> };
  executable: string;
  precision: 'float32' | 'float16';
  vaePrecision: 'float32' | 'float16';
  image: { width: number; height: number };
  latent: { channels: number; width: number; height: number };
  vaeScalingFactor: number;
  text: { maxLength: number; hiddenSize: number };
  /** 'host': the unet returns unguided predictions and the host applies guidance. */
  guidance: 'host';
  unetBatchSizes: number[];
  functions: Record<string, FunctionSignature>;
  /** The diffusers scheduler config of the source (SD 1.5's when the source had none). */
  scheduler: Record<string, unknown>;
  architecture: Record<string, unknown>;
  source: { file: string; sha256: string; format: 'ldm-safetensors' | 'diffusers' };
  loras: Array<{ file: string; scale: number; sha256: string; style: string; modules: number }>;
  weights: { bytes: number; shards: number };
  /** OpenCL programs and their source bytes (null for cpu builds). */
  opencl: { programs: number; sourceBytes: number; sourceBytesWithoutStripping: number } | null;
  /** How many kernels each DLight rule scheduled (GPU targets; empty for cpu). */
  schedules: Record<string, number>;
  compileSeconds: number;
}
