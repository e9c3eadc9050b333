/** The devices runtime tests run on: cpu always, opencl where an OpenCL driver exists (CI installs PoCL). */
import type { TvmRuntime } from '../../lib/tvm/index.js';
import { IN_CI } from './shared-data.js';

export const TEST_DEVICES = ['cpu', 'opencl'] as const;
export type TestDevice = (typeof TEST_DEVICES)[number];

/** Why `kind` cannot be tested here, or '' when it can. Under CI a missing OpenCL device fails. */
export function deviceUnavailable(runtime: TvmRuntime, kind: TestDevice): string {
  if (runtime.device(kind).exists) return '';
  const reason = `no ${kind} device (install pocl-opencl-icd, ocl-icd-libopencl1 and ocl-icd-opencl-dev, as .ci/run does; sd-mali doctor --device opencl says what is missing)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}
