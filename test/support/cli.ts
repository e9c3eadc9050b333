/** Runs the package's real command-line binary, as `npx sd-mali` would. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_CLI_ENV } from './devices.js';
import { REPO_ROOT } from './shared-data.js';

/** The file package.json's "bin" names (built by `npm run build:ts`, which npm test runs first). */
export function binPath(): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const bin = join(REPO_ROOT, pkg.bin['sd-mali']!);
  if (!existsSync(bin)) throw new Error(`${bin} is not built: run npm run build:ts (npm test does)`);
  return bin;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A clean environment: no TVM variables unless given, and the suite's opt-in to PoCL's CPU
 * OpenCL device (TEST_CLI_ENV); `extra` may take it back (SD_MALI_ALLOW_CPU_OPENCL: '').
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['SD_MALI_TVM_RUNTIME'];
  delete env['TVM_LIBRARY_PATH'];
  return { ...env, ...TEST_CLI_ENV, ...extra };
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(binPath(), args, { cwd: options.cwd, env: options.env ?? cliEnv(), encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function startCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(binPath(), args, { cwd: options.cwd, env: options.env ?? cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** runCli without blocking this test process's event loop (long runs starve vitest's RPC otherwise). */
export function runCliAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
