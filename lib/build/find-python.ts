/**
 * Finds a Python that has sd-mali's compile flow (`sd_mali_build`) and the TVM compiler.
 * Order: the `python` option, SD_MALI_BUILD_PYTHON, a venv at ~/.sd-mali/build-venv, then
 * `python3` on PATH. When none has it, the error says exactly what to install.
 */
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../tvm/native.js';
import { BuildToolsMissingError } from './errors.js';

const run = promisify(execFile);

/** What the found Python reports about itself. */
export interface BuildPython {
  /** The interpreter path. */
  python: string;
  /** sd_mali_build's version. */
  version: string;
  /** The TVM version its compiler is (the runtime on the board must be the same). */
  tvmVersion: string;
}

export const DEFAULT_BUILD_VENV = join(homedir(), '.sd-mali', 'build-venv');

/** Where the compile flow's Python package sits inside the installed npm package. */
export function compilerPackageDir(): string {
  return join(packageRoot(), 'compiler');
}

// Reads TVM's version from its distribution's metadata: importing TVM's compiler takes seconds.
const PROBE = [
  'import json, importlib.metadata as md, sd_mali_build',
  'try:',
  '    v = md.version("apache-tvm")',
  'except md.PackageNotFoundError:',
  '    import tvm; v = tvm.__version__',
  'print(json.dumps({"version": sd_mali_build.__version__, "tvm": v}))',
].join('\n');

async function probe(python: string): Promise<BuildPython | string> {
  try {
    const { stdout } = await run(python, ['-c', PROBE], { timeout: 60_000, maxBuffer: 1 << 20 });
    const info = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { version?: string; tvm?: string };
    if (!info.version || !info.tvm) return 'printed no versions';
    return { python, version: info.version, tvmVersion: info.tvm };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return 'not found';
    const last = (e.stderr ?? e.message).trim().split('\n').pop() ?? '';
    return last.includes('No module named') ? last.replace(/^.*No module named/, 'no module') : last;
  }
}

export async function findBuildPython(explicit?: string): Promise<BuildPython> {
  const candidates: Array<[string, string]> = [];
  if (explicit !== undefined) candidates.push([explicit, 'the python option']);
  else {
    const env = process.env['SD_MALI_BUILD_PYTHON'];
    if (env) candidates.push([env, 'SD_MALI_BUILD_PYTHON']);
    candidates.push([join(DEFAULT_BUILD_VENV, 'bin', 'python'), DEFAULT_BUILD_VENV], ['python3', 'PATH']);
  }
  const tried: string[] = [];
  for (const [python, source] of candidates) {
    const found = await probe(python);
    if (typeof found !== 'string') return found;
    tried.push(`${python} (${source}): ${found}`);
  }
  throw new BuildToolsMissingError(tried, compilerPackageDir(), DEFAULT_BUILD_VENV);
}
