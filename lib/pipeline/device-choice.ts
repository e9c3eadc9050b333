/**
 * Which device a model runs on and with which executable: the one asked for, or the first
 * kind whose executable exists and whose device the runtime sees. Every query runs on the
 * runtime's worker thread.
 */
import { ArtifactError, DeviceUnavailableError } from '../errors.js';
import { cpuOpenClProblem, diagnoseOpenCl, listVendorFiles, openClSystemView, parseDeviceSpec, probeTvmOpenClDevice, type Device, type OpenClDeviceIdentity, type OpenClDeviceKind, type TvmRuntime } from '../tvm/index.js';
import { deviceOfExecutable, EXECUTABLE_KINDS, executableFileName, executableFor, type ModelDirectory } from './model-directory.js';

async function deviceExists(device: Device): Promise<boolean> {
  return (await device.attributeAsync('exist')) === 1;
}

/** Why `kind:id` is absent: for OpenCL the first cause diagnoseOpenCl finds. */
async function deviceUnavailable(runtime: TvmRuntime, kind: string, id: number): Promise<DeviceUnavailableError> {
  const name = `${kind}:${id}`;
  if (kind === 'opencl') {
    const d = await diagnoseOpenCl(openClSystemView(runtime));
    if (d.cause !== 'ok' && d.cause !== 'unknown') return new DeviceUnavailableError(name, d.cause, `device ${name} is not available: ${d.message}`, d.remedy);
    if (id > 0) return new DeviceUnavailableError(name, 'no-such-device', `device ${name} is not available: OpenCL works, but there is no device with id ${id}`, 'use opencl:0, or list the devices with sd-mali doctor');
    return new DeviceUnavailableError(name, d.cause, `device ${name} is not available to the TVM runtime (${runtime.libraryPath}): ${d.message}`, d.remedy);
  }
  return new DeviceUnavailableError(name, 'absent', `device ${name} is not available to the TVM runtime (${runtime.libraryPath}): the runtime was built without ${kind} or the device is absent`, `rebuild TVM with ${kind} enabled, or choose another device`);
}

export interface ChosenDevice {
  device: Device;
  executable: string;
  kind: OpenClDeviceKind;
  openClDevice: OpenClDeviceIdentity | undefined;
}

/**
 * What kind of device `device` is. For OpenCL, TVM's device as the ICD loader lists it; a
 * CPU is refused unless asked for (TVM falls back to one silently: see opencl-device-kind.ts).
 */
async function deviceKindOf(runtime: TvmRuntime, device: Device, allowCpuOpenCl: boolean): Promise<Pick<ChosenDevice, 'kind' | 'openClDevice'>> {
  if (device.kind !== 'opencl') return { kind: device.kind === 'cpu' ? 'cpu' : 'gpu', openClDevice: undefined };
  const view = openClSystemView(runtime);
  const openClDevice = await probeTvmOpenClDevice(view, device.deviceId);
  if (openClDevice?.kind === 'cpu' && !allowCpuOpenCl) {
    const { message, remedy } = cpuOpenClProblem(openClDevice, device.toString(), listVendorFiles(view));
    throw new DeviceUnavailableError(device.toString(), 'cpu-device', message, remedy);
  }
  return { kind: openClDevice?.kind ?? 'unknown', openClDevice };
}

export async function chooseDevice(runtime: TvmRuntime, model: ModelDirectory, spec: string | undefined, allowCpuOpenCl: boolean): Promise<ChosenDevice> {
  const present = Object.keys(model.executables);
  if (spec !== undefined) {
    const { kind, id } = parseDeviceSpec(spec);
    const executable = executableFor(model, kind);
    if (!executable) {
      throw new ArtifactError(
        `${model.dir}/${executableFileName(kind)}`,
        `is missing: this model directory was compiled for ${present.length ? present.join(', ') : 'no device'}, not ${kind}`,
      );
    }
    const device = runtime.device(kind, id);
    if (!(await deviceExists(device))) throw await deviceUnavailable(runtime, kind, id);
    return { device, executable, ...(await deviceKindOf(runtime, device, allowCpuOpenCl)) };
  }
  // Chosen for the caller: a CPU OpenCL device is passed over for the next kind (the cpu
  // executable), and refused only when nothing else is left.
  let cpuOpenCl: DeviceUnavailableError | undefined;
  for (const kind of EXECUTABLE_KINDS) {
    const executable = model.executables[kind];
    if (!executable) continue;
    const device = runtime.device(deviceOfExecutable(kind));
    if (!(await deviceExists(device))) continue;
    try {
      return { device, executable, ...(await deviceKindOf(runtime, device, allowCpuOpenCl)) };
    } catch (err) {
      if (!(err instanceof DeviceUnavailableError && err.reason === 'cpu-device')) throw err;
      cpuOpenCl = err;
    }
  }
  if (cpuOpenCl) throw cpuOpenCl;
  throw new ArtifactError(model.dir, `has no executable for a device this runtime can use (found: ${present.join(', ') || 'none'})`);
}
