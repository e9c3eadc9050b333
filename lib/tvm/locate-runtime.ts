/**
 * Where to look for libtvm_runtime.so, in the order the user's intent is strongest: the
 * explicit option, SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH (directories, as TVM's Python
 * package reads it), then the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
 */
import { delimiter, join, resolve } from 'node:path';
import { statSync } from 'node:fs';

export const RUNTIME_LIBRARY_NAME = 'libtvm_runtime.so';

export interface RuntimeCandidate {
  path: string;
  source: string;
}

function fileOrDir(path: string): string {
  try {
    if (statSync(path).isDirectory()) return join(path, RUNTIME_LIBRARY_NAME);
  } catch {
    // A missing path stays as given: dlopen's message will say so.
  }
  return path;
}

export function runtimeCandidates(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): RuntimeCandidate[] {
  if (explicit !== undefined && explicit !== '') {
    return [{ path: fileOrDir(resolve(explicit)), source: 'tvmRuntime option' }];
  }
  const out: RuntimeCandidate[] = [];
  const fromEnv = env['SD_MALI_TVM_RUNTIME'];
  if (fromEnv) out.push({ path: fileOrDir(resolve(fromEnv)), source: 'SD_MALI_TVM_RUNTIME' });
  const libraryPath = env['TVM_LIBRARY_PATH'];
  if (libraryPath) {
    for (const dir of libraryPath.split(delimiter).filter((d) => d.length > 0)) {
      out.push({ path: join(resolve(dir), RUNTIME_LIBRARY_NAME), source: 'TVM_LIBRARY_PATH' });
    }
  }
  out.push({ path: RUNTIME_LIBRARY_NAME, source: 'system library search (LD_LIBRARY_PATH, ld.so.cache)' });
  return out;
}
