/**
 * Starts the generation worker, talks to it, and replaces it when it dies: on exit or crash
 * (kill -9, a segfault in a driver), or when it reports a device-poisoning TVM error. The
 * request in flight then fails with what happened; requests after it wait for the new
 * worker, which is started after a back-off that doubles with each death in a row.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { AbortError } from '../../errors.js';
import type { RestartBackoff, Watchdog } from '../options.js';
import type { FromWorker, ToWorker, WorkerConfig, WorkerFailure, WorkerGenerate, WorkerImage, WorkerInfo } from './protocol.js';

/** The worker died (or was replaced) while it ran this request. */
export class WorkerCrashedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerCrashedError';
  }
}

/** The worker ran the request and reported an error. */
export class WorkerJobError extends Error {
  constructor(readonly failure: WorkerFailure) {
    super(failure.message);
    this.name = failure.name;
  }
}

/** The worker could not load the model: nothing will work until the options change. */
export class WorkerLoadError extends Error {
  constructor(readonly failure: WorkerFailure) {
    super(`the generation worker could not load the model: ${failure.message}`);
    this.name = 'WorkerLoadError';
  }
}

export interface StepEvent {
  step: number;
  steps: number;
  preview: Uint8Array | undefined;
  previewWidth: number;
  previewHeight: number;
}

interface InFlight {
  resolve: (image: WorkerImage) => void;
  reject: (err: Error) => void;
  onStep: ((e: StepEvent) => void) | undefined;
  /** Re-armed by every message about this job; fires when the worker stops making progress. */
  watchdog: NodeJS.Timeout | undefined;
  /** Armed by a cancel; fires when the worker does not honour it in time. */
  cancelWatchdog: NodeJS.Timeout | undefined;
}

const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

export class WorkerSupervisor {
  #child: ChildProcess | undefined;
  #info: WorkerInfo | undefined;
  #waiters: { resolve: (info: WorkerInfo) => void; reject: (err: Error) => void }[] = [];
  #inFlight = new Map<number, InFlight>();
  #nextId = 1;
  #deathsInARow = 0;
  #everReady = false;
  #fatal: Error | undefined;
  #closed = false;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Why the server itself killed the current worker, to tell the request in flight. */
  #killReason: string | undefined;
  #restarts = 0;

  constructor(
    private readonly entry: string,
    private readonly config: WorkerConfig,
    private readonly backoff: RestartBackoff,
    private readonly log: (line: string) => void,
    private readonly watchdog: Watchdog = { stepTimeoutMs: 120_000, cancelTimeoutMs: 10_000 },
  ) {}

  /** The loaded worker's description; undefined while (re)starting. */
  get info(): WorkerInfo | undefined {
    return this.#info;
  }

  /** How many times a worker was replaced. */
  get restarts(): number {
    return this.#restarts;
  }

  start(): void {
    if (this.#child || this.#closed) return;
    const child = fork(this.entry, [JSON.stringify(this.config)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child = child;
    this.#killReason = undefined;
    child.on('message', (m: FromWorker) => this.#onMessage(m));
    child.on('error', (err) => this.log(`sd-mali serve: generation worker: ${err.message}`));
    child.on('exit', (code, signal) => this.#onExit(child, code, signal));
  }

  /** Resolves with the worker's info once one is loaded (waiting through restarts). */
  ready(): Promise<WorkerInfo> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (this.#closed) return Promise.reject(new WorkerCrashedError('the server is closing'));
    if (this.#info) return Promise.resolve(this.#info);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Runs one image on the worker. Aborting `signal` stops it at the next step (AbortError). */
  async generate(request: WorkerGenerate, options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void } = {}): Promise<WorkerImage> {
    const { signal, onStep } = options;
    await this.ready();
    if (signal?.aborted) throw new AbortError('the request was cancelled before it started');
    const child = this.#child!;
    const id = this.#nextId++;
    return new Promise<WorkerImage>((resolve, reject) => {
      const cancel = (): void => {
        this.#send(child, { type: 'cancel', id });
        const job = this.#inFlight.get(id);
        if (job && !job.cancelWatchdog) {
          job.cancelWatchdog = setTimeout(
            () => this.#killHung(child, `did not stop within ${seconds(this.watchdog.cancelTimeoutMs)} of being asked to (a hung driver or GPU call?)`),
            this.watchdog.cancelTimeoutMs,
          );
        }
      };
      signal?.addEventListener('abort', cancel, { once: true });
      const done = (): void => {
        signal?.removeEventListener('abort', cancel);
        const job = this.#inFlight.get(id);
        clearTimeout(job?.watchdog);
        clearTimeout(job?.cancelWatchdog);
        this.#inFlight.delete(id);
      };
      this.#inFlight.set(id, {
        resolve: (image) => (done(), resolve(image)),
        reject: (err) => (done(), reject(err)),
        onStep,
        watchdog: undefined,
        cancelWatchdog: undefined,
      });
      this.#armWatchdog(child, id);
      this.#send(child, { type: 'generate', id, request });
    });
  }

  /** (Re)starts the no-progress timer of job `id` on `child`. */
  #armWatchdog(child: ChildProcess, id: number): void {
    const job = this.#inFlight.get(id);
    if (!job) return;
    clearTimeout(job.watchdog);
    job.watchdog = setTimeout(
      () => this.#killHung(child, `made no progress for ${seconds(this.watchdog.stepTimeoutMs)} (a hung driver or GPU call?)`),
      this.watchdog.stepTimeoutMs,
    );
  }

  /** The watchdog's way out: kill the worker; the exit handler fails its requests and restarts it. */
  #killHung(child: ChildProcess, what: string): void {
    if (this.#child !== child || child.exitCode !== null || child.signalCode !== null) return;
    this.#killReason = `the generation worker (pid ${child.pid}) ${what}, so the server killed it`;
    this.log(`sd-mali serve: ${this.#killReason}`);
    // No request may reach this worker between now and its exit: callers wait for the next.
    this.#info = undefined;
    child.kill('SIGKILL');
  }

  /** Stops the worker and does not restart it. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    for (const w of this.#waiters.splice(0)) w.reject(new WorkerCrashedError('the server is closing'));
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#killReason = 'the server is closing';
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(force);
  }

  #send(child: ChildProcess, message: ToWorker): void {
    if (child.connected) child.send(message);
  }

  #onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.#info = m.info;
        this.#everReady = true;
        for (const w of this.#waiters.splice(0)) w.resolve(m.info);
        return;
      case 'load-failed': {
        const err = new WorkerLoadError(m.error);
        this.log(`sd-mali serve: ${err.message}`);
        // The first load failing is a configuration error: nothing will work, so no retry. A
        // reload failing may be the device recovering: it is retried with the back-off, and
        // the requests waiting for it get a 503 now rather than hang until one loads.
        if (!this.#everReady) this.#fatal = err;
        for (const w of this.#waiters.splice(0)) w.reject(err);
        return;
      }
      case 'step':
        if (this.#child) this.#armWatchdog(this.#child, m.id);
        this.#inFlight.get(m.id)?.onStep?.({ step: m.step, steps: m.steps, preview: m.preview, previewWidth: m.previewWidth, previewHeight: m.previewHeight });
        return;
      case 'done':
        this.#deathsInARow = 0;
        this.#inFlight.get(m.id)?.resolve(m.image);
        return;
      case 'failed': {
        const job = this.#inFlight.get(m.id);
        if (m.error.name === 'AbortError') {
          job?.reject(new AbortError(m.error.message));
          return;
        }
        if (m.error.poisoned && this.#child) {
          this.#killReason = `the TVM runtime failed (${m.error.message.split('\n')[0]}) and may have left the device unusable, so the generation worker was replaced`;
          this.log(`sd-mali serve: ${this.#killReason}`);
          job?.reject(new WorkerCrashedError(this.#killReason));
          // No request may reach this worker between now and its exit: callers wait for the next.
          this.#info = undefined;
          this.#child.kill('SIGKILL');
          return;
        }
        job?.reject(new WorkerJobError(m.error));
        return;
      }
    }
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#info = undefined;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const reason = this.#closed
      ? 'the server is shutting down; this request was stopped'
      : `${this.#killReason ?? `the generation worker (pid ${child.pid}) ${how} during this request`}; a new worker is being started for the requests after it`;
    for (const job of [...this.#inFlight.values()]) job.reject(new WorkerCrashedError(reason));
    this.#inFlight.clear();
    if (this.#closed || this.#fatal) return;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.#deathsInARow);
    this.#deathsInARow++;
    this.#restarts++;
    this.log(`sd-mali serve: the generation worker (pid ${child.pid}) ${how}; starting a new one in ${delay} ms`);
    this.#restartTimer = setTimeout(() => this.start(), delay);
  }
}
