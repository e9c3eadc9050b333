/** What the routes share: the worker, the queue, the progress state and the settings. */
import type { ModelIdentity } from './model-identity.js';
import type { ServerLimits } from './options.js';
import type { ProgressTracker } from './progress-tracker.js';
import type { GenerationQueue } from './queue.js';
import type { WorkerInfo } from './worker/protocol.js';
import type { WorkerSupervisor } from './worker/supervisor.js';

export interface ServerContext {
  supervisor: WorkerSupervisor;
  queue: GenerationQueue;
  tracker: ProgressTracker;
  limits: ServerLimits;
  /** The model as the first worker loaded it (the same for every worker after it). */
  model: () => WorkerInfo;
  /** Its name and hash, as A1111 names checkpoints. */
  identity: () => ModelIdentity;
  /** Absolute; save_images writes here and nowhere else. */
  outputDir: string;
  /** The serve options as A1111's /cmd-flags shows them (no secrets). */
  flags: Record<string, unknown>;
  /** POST /options values kept for GET /options (known keys, scalar values only). */
  settings: Record<string, string | number | boolean | null>;
  version: string;
  log: (line: string) => void;
}
