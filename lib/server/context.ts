/** What the routes share: the worker, the queue, the progress state and the settings. */
import type { GenerationBackend } from './generation-backend.js';
import type { ModelIdentity } from './model-identity.js';
import type { ServerLimits } from './options.js';
import type { ProgressTracker } from './progress-tracker.js';
import type { GenerationQueue } from './queue.js';
import type { WorkerInfo } from './worker/protocol.js';
import type { WorkerSupervisor } from './worker/supervisor.js';

export interface ServerContext {
  /** What the routes hand generations to: the local GPU worker below, or a Redis queue. */
  backend: GenerationBackend;
  /** The local backend's parts (never started when the backend is remote). */
  supervisor: WorkerSupervisor;
  queue: GenerationQueue;
  tracker: ProgressTracker;
  limits: ServerLimits;
  /** The default model (the backend's; HttpError 503 while there is none). */
  model: () => WorkerInfo;
  /** The default model's name and hash, as A1111 names checkpoints (the backend's; 503 likewise). */
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
