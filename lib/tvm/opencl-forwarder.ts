/**
 * sd-mali's OpenCL forwarding library (native/opencl): a library with SONAME libOpenCL.so,
 * built beside the addon, that forwards to the ICD loader libOpenCL.so.1. Loaded before a
 * TVM runtime first touches OpenCL, it is what TVM's dlopen("libOpenCL.so") returns, so
 *  - TVM finds OpenCL without the system's development link (ocl-icd-opencl-dev), and
 *  - the programs TVM builds pass through its persistent binary cache (program-cache.ts).
 * SD_MALI_OPENCL_FORWARDER=0 leaves it out (TVM then opens the system's libOpenCL.so).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nativeBinding, packageRoot } from './native.js';

export const FORWARDER_FILE = 'sdmali_opencl.so';

export interface OpenClForwarderState {
  loaded: boolean;
  /** The library loaded. */
  path?: string;
  /** Why it is not loaded. */
  reason?: string;
}

let state: OpenClForwarderState | undefined;

/** The forwarder beside the addon binary node-gyp-build picked (build/Release or prebuilds/<platform>). */
function forwarderPath(): string | undefined {
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as { resolve(dir: string): string };
  let addon: string;
  try {
    addon = load.resolve(packageRoot());
  } catch {
    return undefined;
  }
  const candidate = join(dirname(addon), FORWARDER_FILE);
  return existsSync(candidate) ? candidate : undefined;
}

/** Loads the forwarder once per process; called before any runtime is opened. */
export function ensureOpenClForwarder(): OpenClForwarderState {
  if (state) return state;
  if (process.env['SD_MALI_OPENCL_FORWARDER'] === '0') {
    state = { loaded: false, reason: 'turned off by SD_MALI_OPENCL_FORWARDER=0' };
    return state;
  }
  const path = forwarderPath();
  if (!path) {
    state = { loaded: false, reason: `${FORWARDER_FILE} is not beside the native addon (rebuild sd-mali: npm rebuild sd-mali)` };
    return state;
  }
  const r = nativeBinding().loadOpenClForwarder(path);
  // Usually: no OpenCL ICD loader (libOpenCL.so.1) on this machine, so no OpenCL at all.
  state = r.loaded ? { loaded: true, path: r.path ?? path } : { loaded: false, reason: r.error ?? 'dlopen failed' };
  return state;
}

/** Whether the forwarder is loaded, without loading it. */
export function openClForwarderState(): OpenClForwarderState {
  return state ?? { loaded: false, reason: 'not loaded yet (it is loaded with the first TVM runtime)' };
}
