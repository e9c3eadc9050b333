/** sd-mali serve: AUTOMATIC1111's web API and a small page, until Ctrl-C. */
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { createServer, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_QUEUE_SIZE } from '../server/index.js';
import { allowCpuOpenCl } from './cpu-opencl.js';

interface ServeOptions {
  model: string;
  tokenizer?: string;
  device?: string;
  runtime?: string;
  allowCpuOpencl?: boolean;
  host: string;
  port: number;
  apiAuth?: string;
  queueSize: number;
  corsOrigin?: string;
  outputDir?: string;
  allowedHosts?: string[];
  watchdog?: number;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderArgumentError('must be a port number (0 to 65535)');
  return n;
}

function hostList(value: string): string[] {
  const names = value.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
  if (names.length === 0) throw new CommanderArgumentError('must name at least one host');
  return names;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CommanderArgumentError('must be a number of seconds > 0');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CommanderArgumentError('must be an integer >= 0');
  return n;
}

export async function serveCommand(opts: ServeOptions): Promise<number> {
  const server = createServer({
    model: opts.model,
    host: opts.host,
    port: opts.port,
    queueSize: opts.queueSize,
    ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}),
    ...(opts.device !== undefined ? { device: opts.device } : {}),
    ...(opts.runtime !== undefined ? { runtime: opts.runtime } : {}),
    ...(allowCpuOpenCl(opts.allowCpuOpencl) ? { allowCpuOpenCl: true } : {}),
    ...(opts.apiAuth !== undefined ? { apiAuth: opts.apiAuth } : {}),
    ...(opts.corsOrigin !== undefined ? { corsOrigin: opts.corsOrigin } : {}),
    ...(opts.outputDir !== undefined ? { outputDir: opts.outputDir } : {}),
    ...(opts.allowedHosts !== undefined ? { allowedHosts: opts.allowedHosts } : {}),
    ...(opts.watchdog !== undefined ? { watchdog: { stepTimeoutMs: opts.watchdog * 1000 } } : {}),
  });
  process.stderr.write(`sd-mali serve: loading ${opts.model} in the generation worker…\n`);
  let url: string;
  try {
    url = await server.listen();
  } catch (err) {
    process.stderr.write(`sd-mali serve: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`sd-mali serve: listening on ${url} (page at ${url}/, API at ${url}/sdapi/v1/)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.stderr.write('sd-mali serve: stopping\n');
  await server.close();
  return 0;
}

/** Adds `serve` to the sd-mali program. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description("serve AUTOMATIC1111's web API (/sdapi/v1/…) and a small page, the model in a worker process")
    .option('-m, --model <dir>', 'model directory written by the TVM build', './dist')
    .option('--tokenizer <dir>', 'CLIP tokenizer folder (vocab.json + merges.txt); default <model>/tokenizer')
    .option('-d, --device <device>', "'opencl', 'cpu', … optionally ':<id>'; default: the first that works")
    .option('--runtime <path>', 'libtvm_runtime.so to use (else SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH, system search)')
    .option('--allow-cpu-opencl', 'accept a CPU as the OpenCL device (e.g. PoCL; also SD_MALI_ALLOW_CPU_OPENCL=1); refused otherwise')
    .option('--host <address>', 'address to listen on (0.0.0.0 for the network: use --api-auth then)', DEFAULT_HOST)
    .option('--port <n>', 'port to listen on', port, DEFAULT_PORT)
    .option('--api-auth <user:pass>', 'HTTP basic auth credentials, user:pass[,user2:pass2] (as A1111)')
    .option('--queue-size <n>', 'requests that may wait behind the running one', count, DEFAULT_QUEUE_SIZE)
    .option('--cors-origin <origin>', 'allow browsers on this origin (or *) to call the API')
    .option('--output-dir <dir>', 'where save_images writes', 'outputs/txt2img-images')
    .option('--allowed-hosts <names>', 'Host header names to answer besides localhost, 127.0.0.1, [::1] (comma-separated; * for any)', hostList)
    .option('--watchdog <seconds>', 'replace the worker when an image makes no progress for this long', seconds, 120)
    .addHelpText(
      'after',
      `
Examples:
  $ sd-mali serve --model ./dist
  $ sd-mali serve --model ./dist --host 0.0.0.0 --api-auth me:secret
  $ curl -s localhost:7860/sdapi/v1/txt2img -H 'content-type: application/json' -d '{"prompt":"a lighthouse","steps":20}'`,
    )
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serveCommand(opts);
    });
}
