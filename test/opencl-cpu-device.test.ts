// Issue 23: TVM takes a CPU OpenCL device (PoCL here) silently when no GPU driver is
// registered. load() refuses it for device 'opencl' with the cause and the remedy unless a
// CPU device is asked for; pipe.info says what the device is; the CLI and doctor do the same.
// This suite leaves out the opt-in the rest of the suite passes (test/support/devices.ts).
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceUnavailableError, StableDiffusion } from '../lib/index.js';
import * as tvm from '../lib/tvm/index.js';
import { cliEnv, runCliAsync } from './support/cli.js';
import { deviceUnavailable } from './support/devices.js';
import { sharedData, testRuntime, testStandin, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const tokenizer = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = {
  available: runtimeInfo.available && standin.available && tokenizer.available,
  reason: runtimeInfo.reason || standin.reason || tokenizer.reason,
  path: '',
};
const base = { tvmRuntime: runtimeInfo.path, tokenizer: tokenizer.path };
/** The CLI's environment without the suite's opt-in. */
const strictEnv = (): NodeJS.ProcessEnv => cliEnv({ SD_MALI_TVM_RUNTIME: runtimeInfo.path, SD_MALI_ALLOW_CPU_OPENCL: '' });

describe.skipIf(!ready.available)(titled('a CPU OpenCL device (PoCL)', ready), () => {
  /** PoCL must be the only driver for these tests: skips elsewhere, fails under CI. */
  async function poclOnly(skip: (why: string) => void): Promise<tvm.OpenClDeviceIdentity> {
    const rt = tvm.loadRuntime({ library: runtimeInfo.path });
    const why = deviceUnavailable(rt, 'opencl');
    if (why) skip(why);
    const device = await tvm.probeTvmOpenClDevice(tvm.openClSystemView(rt), 0);
    if (device?.kind !== 'cpu') {
      if (process.env['CI'] === 'true') throw new Error(`CI registers PoCL alone, but TVM's OpenCL device is ${JSON.stringify(device)}`);
      skip(`TVM's OpenCL device here is not a CPU (${device?.kind ?? 'unknown'})`);
    }
    return device!;
  }

  it("load(device: 'opencl') refuses it with the cause, the vendor files and the remedy, and keeps nothing", async ({ skip }) => {
    const device = await poclOnly(skip);
    const err = await StableDiffusion.load(standin.path, { ...base, device: 'opencl' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceUnavailableError);
    const e = err as DeviceUnavailableError;
    expect(e.reason).toBe('cpu-device');
    expect(e.device).toBe('opencl:0');
    expect(e.message).toContain(`TVM's OpenCL device opencl:0 is a CPU: '${device.name}' (vendor ${device.vendor}`);
    expect(e.message).toMatch(/vendor files are \/etc\/OpenCL\/vendors: .*pocl\.icd -> \S*libpocl/);
    expect(e.remedy).toContain('/etc/OpenCL/vendors');
    expect(e.remedy).toContain('OCL_ICD_VENDORS');
    expect(e.remedy).toContain('allowCpuOpenCl: true');
    // Refused before the executable or any weight was loaded: the same load with the
    // opt-in works at once in this process.
    const pipe = await StableDiffusion.load(standin.path, { ...base, device: 'opencl', allowCpuOpenCl: true });
    try {
      expect(pipe.info.device).toBe('opencl:0');
      expect(pipe.info.deviceKind).toBe('cpu');
      expect(pipe.info.openClDevice).toMatchObject({ kind: 'cpu', name: device.name, vendor: device.vendor, platform: 'Portable Computing Language' });
      const image = await pipe.generate('a red fox', { steps: 1, seed: 1 });
      expect(image.width).toBe(512);
    } finally {
      pipe.dispose();
    }
  });

  it('a load that chooses the device passes over the CPU OpenCL device for the cpu executable', async ({ skip }) => {
    await poclOnly(skip);
    const pipe = await StableDiffusion.load(standin.path, base);
    try {
      expect(pipe.info.device).toBe('cpu:0');
      expect(pipe.info.deviceKind).toBe('cpu');
      expect(pipe.info.openClDevice).toBeUndefined();
    } finally {
      pipe.dispose();
    }
  });

  it('generate --device opencl refuses it with the remedy; --allow-cpu-opencl and SD_MALI_ALLOW_CPU_OPENCL=1 accept it and say what it is', async ({ skip }) => {
    const device = await poclOnly(skip);
    const cwd = mkdtempSync(join(tmpdir(), 'sd-mali-cpu-opencl-'));
    const args = ['generate', 'a red fox', '--model', standin.path, '--tokenizer', tokenizer.path, '--device', 'opencl', '--steps', '1', '--seed', '1'];
    const refused = await runCliAsync([...args, '-o', 'refused.png'], { cwd, env: strictEnv() });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`sd-mali: TVM's OpenCL device opencl:0 is a CPU: '${device.name}'`);
    expect(refused.stderr).toContain('To fix: register the GPU\'s OpenCL driver');
    expect(refused.stderr).toContain('--allow-cpu-opencl or SD_MALI_ALLOW_CPU_OPENCL=1');
    expect(readdirSync(cwd)).toEqual([]);
    const flag = await runCliAsync([...args, '--allow-cpu-opencl', '-o', 'flag.png'], { cwd, env: strictEnv() });
    expect(flag.status).toBe(0);
    expect(flag.stderr).toContain(`device: opencl:0, a CPU: '${device.name}' (${device.vendor})`);
    const env = await runCliAsync([...args, '-o', 'env.png', '--json'], { cwd, env: { ...strictEnv(), SD_MALI_ALLOW_CPU_OPENCL: '1' } });
    expect(env.status).toBe(0);
    expect(JSON.parse(env.stdout)).toMatchObject({ device: 'opencl:0', deviceKind: 'cpu', deviceName: device.name });
  });

  it('doctor --device opencl fails on it naming the kind and the vendor files, and passes when a CPU is wanted', async ({ skip }) => {
    const device = await poclOnly(skip);
    const args = ['doctor', '--model', standin.path, '--tokenizer', tokenizer.path, '--device', 'opencl'];
    const refused = await runCliAsync(args, { env: strictEnv() });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/\[info\] icd +OpenCL vendor files: \/etc\/OpenCL\/vendors: .*pocl\.icd -> \S*libpocl/);
    expect(refused.stdout).toContain(`[FAIL] opencl    TVM's OpenCL device opencl:0 is a CPU: '${device.name}'`);
    expect(refused.stdout).toMatch(/-> register the GPU's OpenCL driver: a file in \/etc\/OpenCL\/vendors/);
    // Without --device opencl, generate would pick the cpu executable: a warning, not a failure.
    const chooser = await runCliAsync(['doctor', '--model', standin.path, '--tokenizer', tokenizer.path], { env: strictEnv() });
    expect(chooser.stdout).toContain(`[warn] opencl    TVM's OpenCL device opencl:0 is a CPU`);
    const allowed = await runCliAsync([...args, '--allow-cpu-opencl'], { env: strictEnv() });
    expect(allowed.stdout).toContain(`[ ok ] opencl    TVM sees an OpenCL device: opencl:0 is a CPU: '${device.name}'`);
    expect(allowed.stdout).toMatch(/\[info\] icd +OpenCL vendor files: /);
    expect(allowed.status).toBe(0);
  });
});
