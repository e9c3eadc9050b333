/**
 * Where the routes hand a generation: the seam between the A1111 routes and whatever makes
 * the images. The local backend (the default) runs them one at a time on this server's own
 * GPU worker; `sd-mali serve --redis` puts them on a BullMQ queue for boards running
 * `sd-mali worker` (lib/cluster/remote-backend.ts).
 */
import type { ServerContext } from './context.js';
import { runJob, type JobRequest, type JobResult } from './generation-job.js';
import { HttpError } from './http-errors.js';
import type { ProgressResponse } from './progress-tracker.js';
import type { WorkerInfo } from './worker/protocol.js';

/** Who is asking: /progress and /interrupt act on the caller's own job. */
export interface Caller {
  /** The remote address with the basic-auth user, if any. */
  key: string;
}

/** One model a client may ask for, as /sd-models lists it. */
export interface ServedModel {
  title: string;
  info: WorkerInfo;
  /** How many workers serve it (1 for the local backend). */
  workers: number;
}

export interface GenerationBackend {
  /** Starts what makes images; resolves once requests can be taken. */
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * The model a request asks for (`checkpoint`, as A1111's sd_model_checkpoint; undefined:
   * the default). Throws an HttpError (503) when none can serve it now.
   */
  model(checkpoint?: string): ServedModel;
  /** Every model that can be asked for now. */
  models(): ServedModel[];
  /** Runs one txt2img job; `signal` (the client went away) cancels it. */
  run(request: JobRequest & { model: string }, caller: Caller, signal: AbortSignal): Promise<JobResult>;
  progress(caller: Caller, skipCurrentImage: boolean): Promise<ProgressResponse>;
  interrupt(caller: Caller): Promise<void>;
  skip(caller: Caller): Promise<void>;
}

/** The model's name as clients see it: its directory's last part. */
export function modelTitleOf(info: WorkerInfo): string {
  return info.modelDir.split('/').filter((p) => p.length > 0).pop() ?? 'model';
}

/** The embedded default: this process's GPU worker, its one queue and its one progress state. */
export class LocalBackend implements GenerationBackend {
  /** The model as the first worker loaded it (the same for every worker after it). */
  #info: WorkerInfo | undefined;

  /** `context`: the server's, read when used (the context holds this backend). */
  constructor(private readonly context: () => ServerContext) {}

  private get ctx(): ServerContext {
    return this.context();
  }

  async start(): Promise<void> {
    this.ctx.supervisor.start();
    this.#info = await this.ctx.supervisor.ready();
  }

  async close(): Promise<void> {
    await this.ctx.supervisor.close();
  }

  model(): ServedModel {
    const info = this.#info;
    if (!info) throw new HttpError(503, 'the model is still loading');
    return { title: modelTitleOf(info), info, workers: 1 };
  }

  models(): ServedModel[] {
    return [this.model()];
  }

  run(request: JobRequest, _caller: Caller, signal: AbortSignal): Promise<JobResult> {
    return this.ctx.queue.run(() => runJob(this.ctx, request, signal), signal);
  }

  progress(_caller: Caller, skipCurrentImage: boolean): Promise<ProgressResponse> {
    return this.ctx.tracker.response(skipCurrentImage);
  }

  async interrupt(): Promise<void> {
    this.ctx.tracker.interrupt();
  }

  async skip(): Promise<void> {
    this.ctx.tracker.skip();
  }
}
