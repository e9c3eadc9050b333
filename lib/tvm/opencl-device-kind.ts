/**
 * Which OpenCL device TVM runs on: a GPU, an accelerator or a CPU. TVM's OpenCL workspace
 * takes the GPU devices of every platform and, when there is none, silently the CPU ones
 * (it logs "Using CPU OpenCL device" and nothing else). On a board whose GPU driver's ICD
 * file is missing while PoCL is installed, `device: 'opencl'` then runs SD 1.5 on the CPU
 * through OpenCL: hours per image, no error. This module names the device (CL_DEVICE_TYPE,
 * name, vendor, from the addon's probe on libuv's pool) and words the refusal.
 */
import type { OpenClDeviceFacts, OpenClPlatformsProbe } from './native.js';

export type OpenClDeviceKind = 'gpu' | 'accelerator' | 'cpu' | 'custom' | 'unknown';

/** CL_DEVICE_TYPE bits (cl.h). */
const CL_DEVICE_TYPE_CPU = 1 << 1;
const CL_DEVICE_TYPE_GPU = 1 << 2;
const CL_DEVICE_TYPE_ACCELERATOR = 1 << 3;
const CL_DEVICE_TYPE_CUSTOM = 1 << 4;

export interface OpenClDeviceIdentity {
  kind: OpenClDeviceKind;
  /** CL_DEVICE_TYPE as reported (0 when unknown). */
  type: number;
  name: string;
  vendor: string;
  /** CL_DEVICE_VERSION and CL_DRIVER_VERSION. */
  version: string;
  driverVersion: string;
  platform: string;
  /** Whether the device has cl_khr_fp16 (half-precision arithmetic), which an FP16 build's kernels need. */
  fp16: boolean;
}

/** An ICD vendor file and the driver library its first line names. */
export interface VendorFile {
  file: string;
  library: string;
}

/** The vendor files the ICD loader reads, and where from (a folder, or OCL_ICD_VENDORS). */
export interface VendorFiles {
  where: string;
  vendors: VendorFile[];
}

/** A type's kind; a device that is several at once counts as the most capable. */
export function kindOfType(type: number): OpenClDeviceKind {
  if (type & CL_DEVICE_TYPE_GPU) return 'gpu';
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return 'accelerator';
  if (type & CL_DEVICE_TYPE_CPU) return 'cpu';
  if (type & CL_DEVICE_TYPE_CUSTOM) return 'custom';
  return 'unknown';
}

/** How a kind reads in a sentence. */
export function describeKind(kind: OpenClDeviceKind): string {
  switch (kind) {
    case 'gpu':
      return 'a GPU';
    case 'accelerator':
      return 'an accelerator';
    case 'cpu':
      return 'a CPU';
    case 'custom':
      return 'a custom device';
    case 'unknown':
      return 'a device of unknown type';
  }
}

type Listed = OpenClDeviceFacts & { platform: string };

/** TVM's OpenCL device list: every platform's GPUs in order, or, without any, the CPUs (OpenCLWorkspace::Init). */
export function tvmOpenClDevices(probe: OpenClPlatformsProbe): Listed[] {
  const all: Listed[] = probe.platforms.flatMap((p) => (p.deviceList ?? []).map((d) => ({ ...d, platform: p.name })));
  const gpus = all.filter((d) => d.type & CL_DEVICE_TYPE_GPU);
  return gpus.length > 0 ? gpus : all.filter((d) => d.type & CL_DEVICE_TYPE_CPU);
}

/**
 * Which device TVM's opencl:`id` is, found by TVM's order and checked by the name TVM
 * reports for it; undefined when the probe does not list it.
 */
export function identifyTvmOpenClDevice(probe: OpenClPlatformsProbe, id: number, tvmName: string | undefined): OpenClDeviceIdentity | undefined {
  const ordered = tvmOpenClDevices(probe);
  let device: Listed | undefined = ordered[id];
  if (tvmName !== undefined && device?.name !== tvmName) {
    // The order differs from TVM's (several platforms): the name decides.
    device = probe.platforms.flatMap((p) => (p.deviceList ?? []).map((d) => ({ ...d, platform: p.name }))).find((d) => d.name === tvmName);
  }
  if (!device) return undefined;
  return { kind: kindOfType(device.type), type: device.type, name: device.name, vendor: device.vendor, version: device.version, driverVersion: device.driverVersion, platform: device.platform, fp16: (device.extensions ?? '').split(/\s+/).includes('cl_khr_fp16') };
}

/** "a CPU: 'pthread-…' (vendor GenuineIntel, platform Portable Computing Language)". */
export function describeOpenClDevice(d: OpenClDeviceIdentity): string {
  return `${describeKind(d.kind)}: '${d.name}' (vendor ${d.vendor || '?'}, platform ${d.platform || '?'}, ${d.version || 'version ?'})`;
}

/** "/etc/OpenCL/vendors: pocl.icd -> libpocl.so.2.10.0". */
export function describeVendorFiles(v: VendorFiles): string {
  if (v.vendors.length === 0) return `${v.where}: no .icd file`;
  return `${v.where}: ${v.vendors.map((f) => `${f.file} -> ${f.library}`).join(', ')}`;
}

/** The problem and its remedy when TVM's OpenCL device is a CPU and no CPU was asked for. */
export function cpuOpenClProblem(device: OpenClDeviceIdentity, deviceName: string, vendors: VendorFiles): { message: string; remedy: string } {
  return {
    message:
      `TVM's OpenCL device ${deviceName} is ${describeOpenClDevice(device)}. TVM falls back to a CPU OpenCL device when no GPU driver ` +
      `is registered, and SD 1.5 then takes hours per image; the ICD loader's vendor files are ${describeVendorFiles(vendors)}`,
    remedy:
      "register the GPU's OpenCL driver: a file in /etc/OpenCL/vendors (or the folder OCL_ICD_VENDORS names) whose one line is the " +
      'driver library (on RK3588: mali.icd naming libmali, e.g. /usr/lib/aarch64-linux-gnu/libmali.so.1), then check with clinfo -l. ' +
      "To run on this CPU device anyway, say so: load option allowCpuOpenCl: true (CLI: --allow-cpu-opencl or SD_MALI_ALLOW_CPU_OPENCL=1); " +
      "device 'cpu' runs the same model on the CPU without OpenCL, usually faster",
  };
}
