/**
 * The CLI's side of issue 23: a CPU OpenCL device (PoCL) is refused unless asked for, by
 * `--allow-cpu-opencl` or SD_MALI_ALLOW_CPU_OPENCL=1 (the environment form is for scripts
 * and test suites that run many commands on such a machine); and the line that says what
 * the device is, printed at start by generate and serve.
 */
import type { PipelineInfo } from '../pipeline/index.js';
import { describeKind } from '../tvm/opencl-device-kind.js';

export const ALLOW_CPU_OPENCL_VARIABLE = 'SD_MALI_ALLOW_CPU_OPENCL';

/** The flag, else the environment variable ('1', 'true' or 'yes'). */
export function allowCpuOpenCl(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag === true) return true;
  return ['1', 'true', 'yes'].includes((env[ALLOW_CPU_OPENCL_VARIABLE] ?? '').trim().toLowerCase());
}

/** "opencl:0, a GPU: 'Mali-G610 r0p0' (ARM)". */
export function describeDevice(info: Pick<PipelineInfo, 'device' | 'deviceKind' | 'deviceName' | 'openClDevice'>): string {
  const name = info.openClDevice?.name ?? info.deviceName;
  const vendor = info.openClDevice?.vendor;
  return `${info.device}, ${describeKind(info.deviceKind)}${name ? `: '${name}'` : ''}${vendor ? ` (${vendor})` : ''}`;
}
