/**
 * Where the routes hand a generation: the seam between the A1111 routes and whatever makes
 * the images. The local backend (the default) runs them one at a time on this server's own
 * GPU worker; `sd-mali serve --redis` puts them on a BullMQ queue for boards running
 * `sd-mali worker` (lib/cluster/remote-backend.ts).
 */
import type { ServerContext } from './context.js';
import { runJob, type JobRequest, type JobResult } from './generation-job.js';
import { HttpError } from './http-errors.js';
import { modelIdentity, type ModelIdentity } from './model-identity.js';
import type { ProgressResponse } from './progress-tracker.js';
import type { WorkerInfo } from './worker/protocol.js';
import { describeKind } from '../tvm/opencl-device-kind.js';

/** Who is asking: /progress and /interrupt act on the caller's own job. */
export interface Caller {
  /** The remote address with the basic-auth user, if any. */
  key: string;
}

/** One model a client may ask for, as /sd-models lists it. */
export interface ServedModel {
  /** The model's name: its directory's last part, which also names its queue in the cluster. */
  title: string;
  info: WorkerInfo;
  /** A1111's checkpoint identity: "name [shorthash]", sha256 and the aliases a client may use. */
  identity: ModelIdentity;
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

/**
 * Whether `checkpoint` (sd_model_checkpoint, from /options or override_settings) names this
 * model: one of A1111's aliases ("name [shorthash]", name, path, short hash, sha256). As in
 * A1111, a title with another build's hash does not.
 */
export function servesCheckpoint(model: ServedModel, checkpoint: string): boolean {
  return model.title === checkpoint || model.identity.aliases.includes(checkpoint);
}

/** The embedded default: this process's GPU worker, its one queue and its one progress state. */
export class LocalBackend implements GenerationBackend {
  /** The model as the first worker loaded it (the same for every worker after it). */
  #info: WorkerInfo | undefined;
  #identity: ModelIdentity | undefined;

  /** `context`: the server's, read when used (the context holds this backend). */
  constructor(private readonly context: () => ServerContext) {}

  private get ctx(): ServerContext {
    return this.context();
  }

  async start(): Promise<void> {
    this.ctx.supervisor.start();
    const info = await this.ctx.supervisor.ready();
    this.ctx.log(`sd-mali serve: model on ${info.device}, ${describeKind(info.deviceKind ?? 'unknown')}${info.deviceName ? `: '${info.deviceName}'` : ''}`);
    this.#identity = await modelIdentity(info.modelDir);
    this.#info = info;
  }

  async close(): Promise<void> {
    await this.ctx.supervisor.close();
  }

  model(): ServedModel {
    const info = this.#info;
    const identity = this.#identity;
    if (!info || !identity) throw new HttpError(503, 'the model is still loading');
    return { title: modelTitleOf(info), info, identity, workers: 1 };
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
