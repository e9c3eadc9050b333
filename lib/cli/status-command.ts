/** sd-mali status: the boards of a cluster, their jobs and steps, and the queues. */
import type { Command } from 'commander';
import { formatClusterStatus, readClusterStatus } from '../cluster/status.js';

export async function statusCommand(opts: { redis: string; json?: boolean }): Promise<number> {
  let status;
  try {
    status = await readClusterStatus(opts.redis);
  } catch (err) {
    process.stderr.write(`sd-mali status: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatClusterStatus(status)}\n`);
  return 0;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('the boards of a cluster (model, current job and step) and each queue (waiting, completed, failed)')
    .requiredOption('--redis <url>', 'redis://[user:password@]host[:port][/db], or rediss://… for TLS')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ sd-mali status --redis redis://10.0.0.2:6379')
    .action(async (opts: { redis: string; json?: boolean }) => {
      process.exitCode = await statusCommand(opts);
    });
}
