/**
 * The messages between the server and its generation worker (child_process IPC with
 * 'advanced' serialization, so byte arrays cross as they are).
 */
import type { SchedulerName, SigmaSchedule } from '../../schedulers/index.js';
import type { OpenClDeviceKind } from '../../tvm/opencl-device-kind.js';

/** What the worker loads, given on its command line as JSON. */
export interface WorkerConfig {
  model: string;
  tokenizer?: string;
  device?: string;
  runtime?: string;
  allowCpuOpenCl?: boolean;
  /** A directory, or false: no program cache. */
  programCache?: string | false;
}

export interface WorkerGenerate {
  prompt: string;
  negativePrompt: string;
  steps: number;
  scheduler: SchedulerName;
  /** A1111's schedule type where the sampler takes one. */
  sigmaSchedule?: SigmaSchedule;
  /** The 'parameters' text to write into the PNG (A1111's infotext); default the library's. */
  infotext?: string;
  /** Exact to 2^64-1: the IPC's advanced serialization carries bigints as they are. */
  seed: bigint;
  /** Only where the executable does not bake guidance in. */
  guidanceScale?: number;
  /** img2img / inpainting: the init image's (and mask's) file bytes, checked by the server. */
  image?: Uint8Array;
  mask?: Uint8Array;
  strength?: number;
  resizeMode?: 0 | 1 | 2;
  maskBlur?: number;
  invertMask?: boolean;
}

export type ToWorker = { type: 'generate'; id: number; request: WorkerGenerate } | { type: 'cancel'; id: number };

/** What the loaded pipeline is. */
export interface WorkerInfo {
  pid: number;
  modelDir: string;
  device: string;
  deviceName: string | undefined;
  /** 'gpu', 'cpu', …: for OpenCL, TVM's device's CL_DEVICE_TYPE (pipe.info.deviceKind). */
  deviceKind: OpenClDeviceKind;
  runtimePath: string;
  executable: string;
  /** Whether the unet applies classifier-free guidance itself (found by the warmup at load). */
  guidanceBaked: boolean;
  width: number;
  height: number;
  /** Whether img2img and inpainting work (the model has vae_encode: built by sd-mali build). */
  canEncodeImages: boolean;
  loadMs: number;
}

export interface WorkerImage {
  /** The PNG, with the A1111 'parameters' text chunk. */
  png: Uint8Array;
  parameters: string;
  seed: bigint;
  width: number;
  height: number;
  totalMs: number;
  /** Stopped by a cancel after some steps: decoded from the latents reached. */
  partial: boolean;
}

export interface WorkerFailure {
  name: string;
  code: string | undefined;
  message: string;
  /** A TVM/OpenCL error after which the device cannot be trusted: the worker must be replaced. */
  poisoned: boolean;
}

export type FromWorker =
  | { type: 'ready'; info: WorkerInfo }
  | { type: 'load-failed'; error: WorkerFailure }
  | { type: 'step'; id: number; step: number; steps: number; preview?: Uint8Array; previewWidth: number; previewHeight: number }
  | { type: 'done'; id: number; image: WorkerImage }
  | { type: 'failed'; id: number; error: WorkerFailure };
