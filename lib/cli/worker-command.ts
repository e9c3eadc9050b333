/** sd-mali worker: one board of a cluster, taking its model's jobs from Redis until Ctrl-C. */
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { ClusterWorker } from '../cluster/cluster-worker.js';
import { checkRedisUrl, redactRedisUrl } from '../cluster/redis-url.js';
import { allowCpuOpenCl } from './cpu-opencl.js';

interface WorkerOptions {
  redis: string;
  model: string;
  name?: string;
  tokenizer?: string;
  device?: string;
  runtime?: string;
  allowCpuOpencl?: boolean;
  watchdog?: number;
  lockMs: number;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CommanderArgumentError('must be a number of seconds > 0');
  return n;
}

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 100) throw new CommanderArgumentError('must be an integer >= 100 (milliseconds)');
  return n;
}

export async function workerCommand(opts: WorkerOptions): Promise<number> {
  checkRedisUrl(opts.redis);
  const worker = new ClusterWorker({
    redis: opts.redis,
    model: opts.model,
    lockMs: opts.lockMs,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}),
    ...(opts.device !== undefined ? { device: opts.device } : {}),
    ...(opts.runtime !== undefined ? { runtime: opts.runtime } : {}),
    ...(allowCpuOpenCl(opts.allowCpuOpencl) ? { allowCpuOpenCl: true } : {}),
    ...(opts.watchdog !== undefined ? { watchdog: { stepTimeoutMs: opts.watchdog * 1000 } } : {}),
  });
  process.stderr.write(`sd-mali worker: ${worker.name}: loading ${opts.model} in the generation process…\n`);
  let stops = 0;
  let stopped: () => void = () => undefined;
  const onSignal = (): void => {
    stops++;
    // The first Ctrl-C finishes the job running now; a second stops it at the next step.
    if (stops === 1) process.stderr.write('sd-mali worker: stopping after the job running now (Ctrl-C again to stop it now)\n');
    void worker.close(stops > 1).then(() => stopped());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await worker.start();
  } catch (err) {
    process.stderr.write(`sd-mali worker: ${(err as Error).message}\n`);
    await worker.close(true);
    // ioredis keeps reconnecting a client whose first connect failed: leave explicitly.
    process.exit(1);
  }
  process.stdout.write(`sd-mali worker: ${worker.name} (${worker.id}) serving '${worker.model}' from ${redactRedisUrl(opts.redis)} (queue ${worker.queue}, GPU process ${worker.gpuPid})\n`);
  await new Promise<void>((resolve) => {
    stopped = resolve;
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.stderr.write('sd-mali worker: stopped\n');
  // Nothing is left to finish; a reconnecting Redis client must not keep the process alive.
  process.exit(0);
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description("one board of a cluster: load the model once and take its generation jobs from Redis (BullMQ)")
    .requiredOption('--redis <url>', 'redis://[user:password@]host[:port][/db], or rediss://… for TLS')
    .option('-m, --model <dir>', 'model directory written by the TVM build', './dist')
    .option('--name <name>', "this board's name in `sd-mali status` (default: the host name)")
    .option('--tokenizer <dir>', 'CLIP tokenizer folder; default <model>/tokenizer, else the bundled SD 1.x one')
    .option('-d, --device <device>', "'opencl', 'cpu', … optionally ':<id>'; default: the first that works")
    .option('--runtime <path>', 'libtvm_runtime.so to use (else SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH, system search)')
    .option('--allow-cpu-opencl', 'accept a CPU as the OpenCL device (e.g. PoCL; also SD_MALI_ALLOW_CPU_OPENCL=1); refused otherwise')
    .option('--watchdog <seconds>', 'replace the GPU process when an image makes no progress for this long (the job is retried)', seconds, 120)
    .option('--lock-ms <ms>', "a job's lock: a board that dies has its job taken by another this long after (plus one stall check)", milliseconds, 30_000)
    .addHelpText(
      'after',
      `
Examples:
  $ sd-mali worker --redis redis://10.0.0.2:6379 --model ./dist --name board-3
  $ sd-mali worker --redis rediss://sd:secret@redis.lan:6380 --model ./dist`,
    )
    .action(async (opts: WorkerOptions) => {
      process.exitCode = await workerCommand(opts);
    });
}
