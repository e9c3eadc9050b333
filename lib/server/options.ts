/** createServer's options, their defaults and the request bounds. */

export interface ServerLimits {
  /** Largest `steps` a request may ask for. */
  maxSteps: number;
  /** Largest batch_size × n_iter. */
  maxImages: number;
  /** Longest prompt or negative prompt, in characters (CLIP reads 77 tokens; the rest is ignored). */
  maxPromptLength: number;
  /** Largest body of POST /sdapi/v1/png-info, in bytes (a base64 image). */
  bodyLimit: number;
}

/** Kills a worker that stops making progress, then the restart path replaces it. */
export interface Watchdog {
  /** No step (or end) of a running image for this long: the worker is hung. Default 120 s. */
  stepTimeoutMs: number;
  /** A cancel (interrupt, skip, client gone) not honoured within this: the worker is hung. Default 10 s. */
  cancelTimeoutMs: number;
}

/** Node's HTTP timeouts, as fastify names them. */
export interface ServerTimeouts {
  /** The whole request (headers and body) must arrive within this. Default 30 s. */
  requestTimeoutMs: number;
  /** An idle socket is closed after this (lifted while txt2img runs). Default 60 s. */
  connectionTimeoutMs: number;
  /** How often Node checks requestTimeout. Default 1 s. */
  checkIntervalMs: number;
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
  /**
   * Host header values answered on a loopback bind besides localhost, 127.0.0.1 and [::1]
   * (DNS rebinding: a page on another name that resolves here gets a 403). On other binds,
   * when given, only these. '*' turns the check off.
   */
  allowedHosts?: string[];
  limits?: Partial<ServerLimits>;
  restartBackoff?: Partial<RestartBackoff>;
  watchdog?: Partial<Watchdog>;
  timeouts?: Partial<ServerTimeouts>;
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
export const DEFAULT_WATCHDOG: Watchdog = { stepTimeoutMs: 120_000, cancelTimeoutMs: 10_000 };
export const DEFAULT_TIMEOUTS: ServerTimeouts = { requestTimeoutMs: 30_000, connectionTimeoutMs: 60_000, checkIntervalMs: 1000 };

/** Whether `host` reaches only this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
