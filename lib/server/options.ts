/** createServer's options, their defaults and the request bounds. */

export interface ServerLimits {
  /** Largest `steps` a request may ask for. */
  maxSteps: number;
  /** Largest batch_size × n_iter. */
  maxImages: number;
  /** Longest prompt or negative prompt, in characters (CLIP reads 77 tokens; the rest is ignored). */
  maxPromptLength: number;
  /** Largest request body, in bytes (png-info receives a base64 PNG). */
  bodyLimit: number;
}

export interface RestartBackoff {
  /** Wait before the first restart after a worker dies. */
  initialMs: number;
  /** The wait doubles with each death in a row, up to this. */
  maxMs: number;
}

export interface ServerOptions {
  /** The model directory (as for `sd-mali generate --model`). */
  model: string;
  /** CLIP tokenizer folder; default <model>/tokenizer. */
  tokenizer?: string;
  device?: string;
  /** Accept a CPU as the OpenCL device (PoCL); refused otherwise (StableDiffusion.load's allowCpuOpenCl). */
  allowCpuOpenCl?: boolean;
  /** libtvm_runtime.so; default: the usual search (SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH, system). */
  runtime?: string;
  /** Default 127.0.0.1: only this machine. */
  host?: string;
  /** Default 7860, A1111's. 0 picks a free port. */
  port?: number;
  /** "user:pass[,user2:pass2]", as A1111's --api-auth. */
  apiAuth?: string;
  /** Requests that may wait behind the running one; default 8. */
  queueSize?: number;
  /** Access-Control-Allow-Origin for browsers on other origins ('*' or one origin). */
  corsOrigin?: string;
  /** Where save_images writes; default ./outputs/txt2img-images. */
  outputDir?: string;
  limits?: Partial<ServerLimits>;
  restartBackoff?: Partial<RestartBackoff>;
  /** The compiled worker entry; default dist/lib/server/worker/main.js of this package. */
  workerEntry?: string;
  /** Where notes and warnings go; default stderr. */
  log?: (line: string) => void;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7860;
export const DEFAULT_QUEUE_SIZE = 8;
export const DEFAULT_OUTPUT_DIR = 'outputs/txt2img-images';

export const DEFAULT_LIMITS: ServerLimits = {
  maxSteps: 150,
  maxImages: 16,
  maxPromptLength: 4000,
  bodyLimit: 8 * 1024 * 1024,
};

export const DEFAULT_BACKOFF: RestartBackoff = { initialMs: 500, maxMs: 30_000 };

/** Whether `host` reaches only this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
