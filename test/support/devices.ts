/**
 * The devices runtime tests run on: cpu always, opencl where an OpenCL driver exists (CI
 * installs PoCL). PoCL's device is a CPU, which StableDiffusion.load refuses for 'opencl'
 * unless asked (issue 23): the suite says so here, once — TEST_LOAD_OPTIONS for the
 * library, TEST_CLI_ENV for the CLI and the server it starts (test/support/cli.ts and
 * server.ts merge it). The tests of the refusal itself leave both out.
 */
import type { LoadOptions } from '../../lib/index.js';
import type { TvmRuntime } from '../../lib/tvm/index.js';
import { IN_CI } from './shared-data.js';

export const TEST_DEVICES = ['cpu', 'opencl'] as const;
export type TestDevice = (typeof TEST_DEVICES)[number];

/** Load options every pipeline test passes: PoCL's CPU device is the suite's OpenCL device. */
export const TEST_LOAD_OPTIONS = { allowCpuOpenCl: true } as const satisfies LoadOptions;

/** The same for the CLI (`--allow-cpu-opencl` in environment form), merged by cliEnv. */
export const TEST_CLI_ENV: Readonly<Record<string, string>> = { SD_MALI_ALLOW_CPU_OPENCL: '1' };

/** Why `kind` cannot be tested here, or '' when it can. Under CI a missing OpenCL device fails. */
export function deviceUnavailable(runtime: TvmRuntime, kind: TestDevice): string {
  if (runtime.device(kind).exists) return '';
  const reason = `no ${kind} device (install pocl-opencl-icd, ocl-icd-libopencl1 and ocl-icd-opencl-dev, as .ci/run does; sd-mali doctor --device opencl says what is missing)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}
