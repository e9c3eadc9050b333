/**
 * Runs a script in a fresh Node.js process against the built package (dist/, which
 * `npm test` builds first). For what can kill or hang a process — a second runtime, ending
 * worker threads — so a defect fails the test instead of the test run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './shared-data.js';

/** file:// URL of a built module, e.g. distModule('lib/tvm/index.js'). */
export function distModule(relative: string): string {
  const file = join(REPO_ROOT, 'dist', relative);
  if (!existsSync(file)) throw new Error(`${file} is not built: run npm run build:ts (npm test does)`);
  return pathToFileURL(file).href;
}

export interface ScriptResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last line of stdout parsed as JSON (what the script reported). */
  report: unknown;
}

/**
 * Runs `code` as an ES module; it reports by printing one JSON line last. Asynchronous, so
 * the test worker's event loop (and vitest's messages to it) keep running meanwhile.
 */
export function runScript(code: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; args?: string[] } = {}): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.args ?? []), '--input-type=module', '-e', code], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (status, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let report: unknown;
      try {
        report = JSON.parse(last);
      } catch {
        report = undefined;
      }
      resolve({ status, signal, stdout, stderr, report });
    });
  });
}
