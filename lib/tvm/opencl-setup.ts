/**
 * Why TVM sees no OpenCL device, told apart in the order a user has to fix things:
 *   1. the runtime was built without OpenCL (no `device_api.opencl` global);
 *   2. no OpenCL ICD loader at all (libOpenCL.so.1);
 *   3. a loader, but none of the names TVM's OpenCL wrapper dlopens: it asks for the
 *      unversioned development link `libOpenCL.so`, which Debian ships only in
 *      ocl-icd-opencl-dev (clinfo works all the same, so users are misled);
 *   4. no vendor file (/etc/OpenCL/vendors or OCL_ICD_VENDORS), or none whose driver loads
 *      (on RK3588: libmali);
 *   5. platforms, but no device on any of them;
 *   6. a device, but a CPU: TVM takes CPU devices silently when no GPU driver is registered
 *      (refused unless a CPU device was asked for; opencl-device-kind.ts).
 * The facts come through an injectable view of the filesystem and of dlopen, so each
 * branch is tested without changing the machine.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { nativeBinding, type LibraryProbe, type OpenClPlatformsProbe } from './native.js';
import { openClForwarderState } from './opencl-forwarder.js';
import {
  cpuOpenClProblem,
  describeOpenClDevice,
  identifyTvmOpenClDevice,
  type OpenClDeviceIdentity,
  type VendorFiles,
} from './opencl-device-kind.js';
import type { TvmRuntime } from './runtime.js';

/** The names TVM's OpenCL wrapper (src/runtime/opencl/opencl_wrapper) tries, in order. */
export const TVM_OPENCL_LIBRARY_NAMES = [
  'libOpenCL.so',
  '/usr/lib/libOpenCL.so',
  '/usr/local/lib/libOpenCL.so',
  '/usr/local/lib/libpocl.so',
  '/usr/lib64/libOpenCL.so',
  '/usr/lib32/libOpenCL.so',
] as const;
/** The ICD loader's runtime name (ocl-icd, Khronos' loader). */
export const ICD_LOADER_NAME = 'libOpenCL.so.1';
export const DEFAULT_VENDORS_DIR = '/etc/OpenCL/vendors';

export type OpenClCause =
  | 'ok'
  | 'runtime-without-opencl'
  | 'no-icd-loader'
  | 'no-unversioned-loader'
  | 'no-vendor-file'
  | 'vendor-library-fails'
  | 'no-device'
  | 'cpu-device'
  | 'unknown';

export interface OpenClDiagnosis {
  cause: OpenClCause;
  /** What is wrong (or, for 'ok', what was found). */
  message: string;
  /** What to do; absent for 'ok'. */
  remedy?: string;
  /** The ICD loader's vendor files and the library each names, whatever the cause. */
  vendors: VendorFiles;
  /** TVM's OpenCL device (opencl:deviceId) when TVM sees one and the loader lists it. */
  device?: OpenClDeviceIdentity;
}

export interface DiagnoseOpenClOptions {
  /** A CPU OpenCL device is what the caller wants (else it is the cause 'cpu-device'). */
  allowCpu?: boolean;
  /** Which of TVM's OpenCL devices to name (default 0). */
  deviceId?: number;
}

/** What the diagnosis reads of the system. */
export interface OpenClSystemView {
  /** Whether the TVM runtime registers `device_api.opencl`. */
  runtimeHasOpenCl(): Promise<boolean>;
  /** Whether TVM reports an OpenCL device (the symptom being explained), asked without blocking. */
  tvmSeesDevice(): Promise<boolean>;
  /** The name TVM reports for opencl:id (CL_DEVICE_NAME), asked without blocking. */
  tvmDeviceName(id: number): Promise<string | undefined>;
  /** sd-mali's OpenCL forwarding library when loaded (it answers to the name libOpenCL.so). */
  forwarderPath(): string | undefined;
  openLibrary(name: string): Promise<LibraryProbe>;
  openClPlatforms(loader: string): Promise<OpenClPlatformsProbe>;
  env(name: string): string | undefined;
  /** Entries of a directory, or undefined when it is not one. */
  listDir(dir: string): string[] | undefined;
  isDirectory(path: string): boolean;
  readText(file: string): string | undefined;
}

export function systemView(runtime: TvmRuntime): OpenClSystemView {
  const native = nativeBinding();
  return {
    runtimeHasOpenCl: async () => {
      const fn = await runtime.findGlobalFunctionAsync('device_api.opencl');
      fn?.dispose();
      return fn !== undefined;
    },
    tvmSeesDevice: () => runtime.device('opencl').existsAsync(),
    tvmDeviceName: async (id) => {
      const name = await runtime.device('opencl', id).attributeAsync('deviceName');
      return typeof name === 'string' ? name : undefined;
    },
    forwarderPath: () => openClForwarderState().path,
    openLibrary: (name) => native.probeSharedLibrary(name),
    openClPlatforms: (loader) => native.probeOpenClPlatforms(loader),
    env: (name) => process.env[name],
    listDir: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return undefined;
      }
    },
    isDirectory: (path) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    },
    readText: (file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}

/** The ICD files ocl-icd reads: OCL_ICD_VENDORS (a folder, an .icd file or a library), else /etc/OpenCL/vendors. */
export function listVendorFiles(view: Pick<OpenClSystemView, 'env' | 'isDirectory' | 'readText' | 'listDir'>): VendorFiles {
  const override = view.env('OCL_ICD_VENDORS');
  if (override !== undefined && override !== '' && !view.isDirectory(override)) {
    if (override.endsWith('.icd')) {
      const library = view.readText(override)?.trim().split('\n')[0]?.trim();
      return { where: `OCL_ICD_VENDORS=${override}`, vendors: library ? [{ file: override, library }] : [] };
    }
    // ocl-icd also takes a driver library itself.
    return { where: `OCL_ICD_VENDORS=${override}`, vendors: [{ file: `OCL_ICD_VENDORS`, library: override }] };
  }
  const dir = override !== undefined && override !== '' ? override : DEFAULT_VENDORS_DIR;
  const vendors: VendorFiles['vendors'] = [];
  for (const name of (view.listDir(dir) ?? []).sort()) {
    if (!name.endsWith('.icd')) continue;
    const file = join(dir, name);
    const library = view.readText(file)?.trim().split('\n')[0]?.trim();
    if (library) vendors.push({ file, library });
  }
  return { where: override ? `OCL_ICD_VENDORS=${dir}` : dir, vendors };
}

const OK_PREFIX = 'TVM sees an OpenCL device';

/**
 * The first thing that stops TVM from reaching an OpenCL device (or, unless allowed, makes
 * it a CPU), or 'ok'; with the vendor files in every case.
 */
export async function diagnoseOpenCl(view: OpenClSystemView, options: DiagnoseOpenClOptions = {}): Promise<OpenClDiagnosis> {
  const vendorList = listVendorFiles(view);
  const found = await findCause(view, vendorList, options);
  return { ...found, vendors: vendorList };
}

/**
 * TVM's OpenCL device opencl:`id`, named through the library TVM opens (sd-mali's
 * forwarder, else the first of TVM's names that opens): what load() asks, without the file
 * and library checks of the full diagnosis. Undefined when it cannot be told.
 */
export async function probeTvmOpenClDevice(view: Pick<OpenClSystemView, 'forwarderPath' | 'openLibrary' | 'openClPlatforms' | 'tvmDeviceName'>, id: number): Promise<OpenClDeviceIdentity | undefined> {
  let loader = view.forwarderPath();
  for (const name of loader === undefined ? TVM_OPENCL_LIBRARY_NAMES : []) {
    const probe = await view.openLibrary(name);
    if (probe.loaded) {
      loader = probe.path ?? name;
      break;
    }
  }
  if (loader === undefined) return undefined;
  const [platforms, tvmName] = await Promise.all([view.openClPlatforms(loader), view.tvmDeviceName(id)]);
  return platforms.error === undefined ? identifyTvmOpenClDevice(platforms, id, tvmName) : undefined;
}

type Cause = Omit<OpenClDiagnosis, 'vendors'>;

async function findCause(view: OpenClSystemView, vendorList: VendorFiles, options: DiagnoseOpenClOptions): Promise<Cause> {
  if (!(await view.runtimeHasOpenCl())) {
    return {
      cause: 'runtime-without-opencl',
      message: 'the TVM runtime was built without OpenCL (it registers no device_api.opencl)',
      remedy: 'rebuild TVM with set(USE_OPENCL ON) in config.cmake (TVM >= v0.22: also load libtvm_runtime_opencl.so, which sd-mali finds beside libtvm_runtime.so)',
    };
  }
  const loader = await view.openLibrary(ICD_LOADER_NAME);
  const devLink = loader.loaded ? undefined : await view.openLibrary('libOpenCL.so');
  if (!loader.loaded && !devLink?.loaded) {
    return {
      cause: 'no-icd-loader',
      message: `no OpenCL ICD loader: ${ICD_LOADER_NAME} does not open (${loader.error ?? 'not found'})`,
      remedy: 'install an ICD loader and a driver: apt install ocl-icd-libopencl1 ocl-icd-opencl-dev, plus the GPU vendor\'s OpenCL driver (on RK3588: libmali with its ICD file)',
    };
  }
  const tried: string[] = [];
  let tvmName: LibraryProbe | undefined;
  for (const name of TVM_OPENCL_LIBRARY_NAMES) {
    const probe = name === 'libOpenCL.so' && devLink ? devLink : await view.openLibrary(name);
    if (probe.loaded) {
      tvmName = probe;
      break;
    }
    tried.push(isAbsolute(name) ? name : `${name} (library search path)`);
  }
  const loaderPath = loader.path ?? devLink?.path ?? ICD_LOADER_NAME;
  if (!tvmName) {
    return {
      cause: 'no-unversioned-loader',
      message:
        `the OpenCL ICD loader is installed (${loaderPath}), but TVM opens OpenCL by the unversioned name libOpenCL.so and none of the names it tries exists: ${tried.join(', ')}` +
        ' (clinfo still works: it links libOpenCL.so.1)',
      remedy: `apt install ocl-icd-opencl-dev (it has the libOpenCL.so link), or: ln -s ${loaderPath} /usr/lib/libOpenCL.so`,
    };
  }
  const { where, vendors } = vendorList;
  if (vendors.length === 0) {
    return {
      cause: 'no-vendor-file',
      message: `no OpenCL driver is registered: ${where} has no .icd file`,
      remedy: 'install the GPU\'s OpenCL driver with its ICD file (on RK3588: libmali, with /etc/OpenCL/vendors/mali.icd naming it; elsewhere e.g. pocl-opencl-icd)',
    };
  }
  const failures: string[] = [];
  let loadable = 0;
  for (const v of vendors) {
    const probe = await view.openLibrary(v.library);
    if (probe.loaded) loadable++;
    else failures.push(`${v.file} names ${v.library}: ${probe.error ?? 'does not load'}`);
  }
  if (loadable === 0) {
    return {
      cause: 'vendor-library-fails',
      message: `no registered OpenCL driver loads: ${failures.join('; ')}`,
      remedy: 'install the driver library the .icd file names, or fix its path (on RK3588: the libmali matching your kernel\'s Mali driver, e.g. libmali-valhall-g610)',
    };
  }
  const platforms = await view.openClPlatforms(tvmName.path ?? 'libOpenCL.so');
  const total = platforms.platforms.reduce((n, p) => n + p.devices, 0);
  const names = platforms.platforms.map((p) => `${p.name || '?'} (${p.devices} device${p.devices === 1 ? '' : 's'})`).join(', ');
  if (platforms.error === undefined && platforms.platforms.length > 0 && total === 0) {
    return {
      cause: 'no-device',
      message: `OpenCL platforms found, but no device on any: ${names}`,
      remedy: 'the driver sees no GPU: check the kernel driver (on RK3588: /dev/mali0 exists and your user may open it, e.g. is in the video/render group)',
    };
  }
  if (platforms.error === undefined && platforms.platforms.length === 0) {
    return {
      cause: 'vendor-library-fails',
      message: `the ICD loader finds no OpenCL platform (clGetPlatformIDs: ${platforms.platformError}), though ${vendors.map((v) => v.library).join(', ')} load${vendors.length === 1 ? 's' : ''}`,
      remedy: 'the driver refused to start: check its ICD file and its log (on RK3588: the libmali build must match the kernel\'s Mali driver)',
    };
  }
  if (await view.tvmSeesDevice()) {
    const forwarder = view.forwarderPath();
    const through =
      forwarder !== undefined && tvmName.path === forwarder
        ? `libOpenCL.so is sd-mali's forwarding library (${forwarder}) in front of ${loader.path ?? ICD_LOADER_NAME}, so the system's own libOpenCL.so link is not needed`
        : `loader ${tvmName.path ?? 'libOpenCL.so'}`;
    const id = options.deviceId ?? 0;
    const device = platforms.error === undefined ? identifyTvmOpenClDevice(platforms, id, await view.tvmDeviceName(id)) : undefined;
    if (device?.kind === 'cpu' && !options.allowCpu) return { cause: 'cpu-device', ...cpuOpenClProblem(device, `opencl:${id}`, vendorList), device };
    const what = device
      ? `opencl:${id} is ${describeOpenClDevice(device)}${device.kind === 'cpu' ? ', a CPU device as asked for' : ''}`
      : `opencl:${id}, whose type the loader does not list`;
    return { cause: 'ok', message: `${OK_PREFIX}: ${what} (${through}; platforms: ${names || 'not listed'})`, ...(device ? { device } : {}) };
  }
  const found = platforms.error ?? (platforms.platforms.length === 0 ? `clGetPlatformIDs returned ${platforms.platformError} and no platform` : `platforms: ${names}`);
  return {
    cause: 'unknown',
    message: `OpenCL looks installed (${tvmName.path ?? 'libOpenCL.so'}; ${found}) but TVM still sees no device` +
      (failures.length ? `; drivers that do not load: ${failures.join('; ')}` : ''),
    remedy: 'run clinfo -l as the same user; on RK3588 check dmesg for Mali errors',
  };
}
