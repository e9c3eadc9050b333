// Why TVM sees no OpenCL device: each cause on a fake view of the system, in the order a
// user has to fix them, and the real answer on this machine (CI installs PoCL and the
// libOpenCL.so link, so TVM must see a device: PoCL's CPU, refused unless asked for).
import { describe, expect, it } from 'vitest';
import {
  cpuOpenClProblem,
  describeVendorFiles,
  diagnoseOpenCl,
  identifyTvmOpenClDevice,
  kindOfType,
  loadRuntime,
  openClSystemView,
  probeTvmOpenClDevice,
  TVM_OPENCL_LIBRARY_NAMES,
  tvmOpenClDevices,
  type OpenClSystemView,
} from '../lib/tvm/index.js';
import type { LibraryProbe, OpenClPlatformsProbe } from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { testRuntime, titled } from './support/shared-data.js';

interface FakeSystem {
  runtimeHasOpenCl?: boolean;
  tvmSeesDevice?: boolean;
  /** Library names (as dlopen is asked) that open, with the file they resolve to. */
  libraries?: Record<string, string>;
  files?: Record<string, string>;
  dirs?: Record<string, string[]>;
  env?: Record<string, string>;
  platforms?: OpenClPlatformsProbe;
  forwarder?: string;
  /** The names TVM reports for opencl:0, opencl:1, … */
  tvmDeviceNames?: string[];
}

const POCL_DEVICE = { type: 2, name: 'pthread-skylake-avx512-Intel(R) Xeon(R) Processor', vendor: 'GenuineIntel', version: 'OpenCL 3.0 PoCL HSTR: pthread-x86_64', driverVersion: '3.1+debian' };
const MALI_DEVICE = { type: 4, name: 'Mali-G610 r0p0', vendor: 'ARM', version: 'OpenCL C 3.0 v1.r34p0', driverVersion: '3.0' };
const POCL_PLATFORM = { name: 'Portable Computing Language', vendor: 'The pocl project', version: 'OpenCL 3.0 PoCL', devices: 1, deviceList: [POCL_DEVICE] };
const MALI_PLATFORM = { name: 'ARM Platform', vendor: 'ARM', version: 'OpenCL 3.0 v1.r34p0', devices: 1, deviceList: [MALI_DEVICE] };

/** A healthy Debian machine with PoCL: the starting point each case breaks one thing of. */
function healthy(): Required<Omit<FakeSystem, 'forwarder'>> {
  return {
    runtimeHasOpenCl: true,
    tvmSeesDevice: true,
    tvmDeviceNames: [POCL_DEVICE.name],
    libraries: {
      'libOpenCL.so.1': '/lib/x86_64-linux-gnu/libOpenCL.so.1',
      'libOpenCL.so': '/lib/x86_64-linux-gnu/libOpenCL.so',
      'libpocl.so.2.10.0': '/lib/x86_64-linux-gnu/libpocl.so.2.10.0',
    },
    files: { '/etc/OpenCL/vendors/pocl.icd': 'libpocl.so.2.10.0\n' },
    dirs: { '/etc/OpenCL/vendors': ['pocl.icd'] },
    env: {},
    platforms: { platformError: 0, platforms: [POCL_PLATFORM] },
  };
}

/** The board as it should be: libmali registered beside PoCL; TVM takes the GPU. */
function board(): Required<Omit<FakeSystem, 'forwarder'>> {
  const sys = healthy();
  return {
    ...sys,
    tvmDeviceNames: [MALI_DEVICE.name],
    libraries: { ...sys.libraries, 'libmali.so.1': '/usr/lib/aarch64-linux-gnu/libmali.so.1' },
    files: { ...sys.files, '/etc/OpenCL/vendors/mali.icd': 'libmali.so.1\n' },
    dirs: { '/etc/OpenCL/vendors': ['pocl.icd', 'mali.icd'] },
    platforms: { platformError: 0, platforms: [POCL_PLATFORM, MALI_PLATFORM] },
  };
}

/** PoCL's CPU device is what these tests want unless they test the refusal. */
const CPU_OK = { allowCpu: true } as const;

function fakeView(system: FakeSystem): OpenClSystemView & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    runtimeHasOpenCl: () => system.runtimeHasOpenCl ?? true,
    forwarderPath: () => system.forwarder,
    tvmSeesDevice: () => system.tvmSeesDevice ?? false,
    tvmDeviceName: async (id) => system.tvmDeviceNames?.[id],
    openLibrary: async (name): Promise<LibraryProbe> => {
      opened.push(name);
      const path = system.libraries?.[name];
      return path ? { loaded: true, path } : { loaded: false, error: `${name}: cannot open shared object file: No such file or directory` };
    },
    openClPlatforms: async () => system.platforms ?? { platformError: -1001, platforms: [] },
    env: (name) => system.env?.[name],
    listDir: (dir) => system.dirs?.[dir],
    isDirectory: (path) => system.dirs?.[path] !== undefined,
    readText: (file) => system.files?.[file],
  };
}

describe('diagnoseOpenCl', () => {
  it('is ok on a healthy system whose CPU OpenCL device is wanted', async () => {
    const d = await diagnoseOpenCl(fakeView(healthy()), CPU_OK);
    expect(d.cause).toBe('ok');
    expect(d.message).toContain('Portable Computing Language (1 device)');
    expect(d.message).toContain(`opencl:0 is a CPU: '${POCL_DEVICE.name}' (vendor GenuineIntel, platform Portable Computing Language`);
    expect(d.message).toContain('a CPU device as asked for');
    expect(d.device).toMatchObject({ kind: 'cpu', name: POCL_DEVICE.name, vendor: 'GenuineIntel' });
    expect(d.remedy).toBeUndefined();
  });

  it('1. names a runtime built without OpenCL before anything else', async () => {
    const view = fakeView({ ...healthy(), runtimeHasOpenCl: false, libraries: {} });
    const d = await diagnoseOpenCl(view);
    expect(d.cause).toBe('runtime-without-opencl');
    expect(d.message).toContain('device_api.opencl');
    expect(d.remedy).toContain('USE_OPENCL ON');
    expect(view.opened).toEqual([]);
  });

  it('2. names a missing ICD loader', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, libraries: {} }));
    expect(d.cause).toBe('no-icd-loader');
    expect(d.message).toContain('libOpenCL.so.1 does not open');
    expect(d.remedy).toContain('apt install ocl-icd-libopencl1');
  });

  it('3. names the missing unversioned libOpenCL.so, every path TVM tries, and the package', async () => {
    const sys = healthy();
    delete sys.libraries['libOpenCL.so'];
    const view = fakeView({ ...sys, tvmSeesDevice: false });
    const d = await diagnoseOpenCl(view);
    expect(d.cause).toBe('no-unversioned-loader');
    for (const path of TVM_OPENCL_LIBRARY_NAMES.filter((n) => n.startsWith('/'))) expect(d.message).toContain(path);
    expect(d.message).toContain('libOpenCL.so (library search path)');
    expect(d.message).toContain('/lib/x86_64-linux-gnu/libOpenCL.so.1');
    expect(d.remedy).toContain('apt install ocl-icd-opencl-dev');
    expect(d.remedy).toContain('ln -s /lib/x86_64-linux-gnu/libOpenCL.so.1 /usr/lib/libOpenCL.so');
  });

  it('3. is satisfied by a link in one of the absolute places TVM tries', async () => {
    const sys = healthy();
    delete sys.libraries['libOpenCL.so'];
    sys.libraries['/usr/local/lib/libOpenCL.so'] = '/usr/local/lib/libOpenCL.so';
    expect((await diagnoseOpenCl(fakeView(sys), CPU_OK)).cause).toBe('ok');
  });

  it("3. is satisfied by sd-mali's forwarding library answering to libOpenCL.so, and says so", async () => {
    const sys = healthy();
    const forwarder = '/opt/node_modules/sd-mali/build/Release/sdmali_opencl.so';
    sys.libraries['libOpenCL.so'] = forwarder;
    const d = await diagnoseOpenCl(fakeView({ ...sys, forwarder }), CPU_OK);
    expect(d.cause).toBe('ok');
    expect(d.message).toContain(`libOpenCL.so is sd-mali's forwarding library (${forwarder}) in front of /lib/x86_64-linux-gnu/libOpenCL.so.1`);
  });

  it('4. names an empty vendors folder', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, dirs: {}, files: {} }));
    expect(d.cause).toBe('no-vendor-file');
    expect(d.message).toContain('/etc/OpenCL/vendors has no .icd file');
    expect(d.remedy).toContain('libmali');
  });

  it('4. names a vendor file whose driver does not load (libmali on RK3588)', async () => {
    const sys = healthy();
    const d = await diagnoseOpenCl(
      fakeView({ ...sys, tvmSeesDevice: false, dirs: { '/etc/OpenCL/vendors': ['mali.icd'] }, files: { '/etc/OpenCL/vendors/mali.icd': '/usr/lib/aarch64-linux-gnu/libmali.so.1\n' } }),
    );
    expect(d.cause).toBe('vendor-library-fails');
    expect(d.message).toContain('/etc/OpenCL/vendors/mali.icd names /usr/lib/aarch64-linux-gnu/libmali.so.1');
  });

  it('4. reads OCL_ICD_VENDORS as a folder, an .icd file or a driver library', async () => {
    const sys = healthy();
    const asDir = await diagnoseOpenCl(fakeView({ ...sys, env: { OCL_ICD_VENDORS: '/opt/icds' }, dirs: { ...sys.dirs, '/opt/icds': [] } }));
    expect(asDir.cause).toBe('no-vendor-file');
    expect(asDir.message).toContain('OCL_ICD_VENDORS=/opt/icds has no .icd file');
    const asFile = await diagnoseOpenCl(fakeView({ ...sys, env: { OCL_ICD_VENDORS: '/opt/x.icd' }, files: { '/opt/x.icd': 'libmissing.so' } }));
    expect(asFile.cause).toBe('vendor-library-fails');
    expect(asFile.message).toContain('/opt/x.icd names libmissing.so');
    const asLib = await diagnoseOpenCl(fakeView({ ...sys, env: { OCL_ICD_VENDORS: 'libpocl.so.2.10.0' } }), CPU_OK);
    expect(asLib.cause).toBe('ok');
    expect(asLib.vendors).toEqual({ where: 'OCL_ICD_VENDORS=libpocl.so.2.10.0', vendors: [{ file: 'OCL_ICD_VENDORS', library: 'libpocl.so.2.10.0' }] });
  });

  it('4. names a driver that loads but registers no platform', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, platforms: { platformError: -1001, platforms: [] } }));
    expect(d.cause).toBe('vendor-library-fails');
    expect(d.message).toContain('clGetPlatformIDs: -1001');
  });

  it('5. names a platform without a device', async () => {
    const d = await diagnoseOpenCl(
      fakeView({ ...healthy(), tvmSeesDevice: false, platforms: { platformError: 0, platforms: [{ name: 'ARM Platform', vendor: 'ARM', version: 'OpenCL 3.0', devices: 0, deviceList: [] }] } }),
    );
    expect(d.cause).toBe('no-device');
    expect(d.message).toContain('ARM Platform (0 devices)');
    expect(d.remedy).toContain('/dev/mali0');
  });

  it('6. refuses a CPU device by default: names its kind, name and vendor, the vendor files and the remedy', async () => {
    const d = await diagnoseOpenCl(fakeView(healthy()));
    expect(d.cause).toBe('cpu-device');
    expect(d.device).toMatchObject({ kind: 'cpu', type: 2, name: POCL_DEVICE.name, vendor: 'GenuineIntel', platform: 'Portable Computing Language' });
    expect(d.message).toContain(`TVM's OpenCL device opencl:0 is a CPU: '${POCL_DEVICE.name}' (vendor GenuineIntel`);
    expect(d.message).toContain('/etc/OpenCL/vendors: /etc/OpenCL/vendors/pocl.icd -> libpocl.so.2.10.0');
    expect(d.remedy).toContain('/etc/OpenCL/vendors (or the folder OCL_ICD_VENDORS names)');
    expect(d.remedy).toContain('mali.icd');
    expect(d.remedy).toContain('allowCpuOpenCl: true');
    expect(d.remedy).toContain('SD_MALI_ALLOW_CPU_OPENCL=1');
  });

  it("6. takes the GPU when the GPU driver's ICD file is there beside PoCL, as TVM does", async () => {
    const d = await diagnoseOpenCl(fakeView(board()));
    expect(d.cause).toBe('ok');
    expect(d.device).toMatchObject({ kind: 'gpu', name: 'Mali-G610 r0p0', vendor: 'ARM', platform: 'ARM Platform' });
    expect(d.message).toContain("opencl:0 is a GPU: 'Mali-G610 r0p0' (vendor ARM, platform ARM Platform");
    expect(d.vendors.vendors).toEqual([
      { file: '/etc/OpenCL/vendors/mali.icd', library: 'libmali.so.1' },
      { file: '/etc/OpenCL/vendors/pocl.icd', library: 'libpocl.so.2.10.0' },
    ]);
  });

  it('6. lists the vendor files whatever the cause', async () => {
    const causes = [
      await diagnoseOpenCl(fakeView({ ...healthy(), runtimeHasOpenCl: false })),
      await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, libraries: {} })),
      await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, platforms: { platformError: -1001, platforms: [] } })),
      await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false })),
    ];
    expect(causes.map((d) => d.cause)).toEqual(['runtime-without-opencl', 'no-icd-loader', 'vendor-library-fails', 'unknown']);
    for (const d of causes) expect(d.vendors).toEqual({ where: '/etc/OpenCL/vendors', vendors: [{ file: '/etc/OpenCL/vendors/pocl.icd', library: 'libpocl.so.2.10.0' }] });
    const none = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, dirs: {}, files: {} }));
    expect(none.vendors).toEqual({ where: '/etc/OpenCL/vendors', vendors: [] });
  });

  it('says what it found when everything looks right and TVM still sees nothing', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false }));
    expect(d.cause).toBe('unknown');
    expect(d.message).toContain('TVM still sees no device');
  });
});

describe("TVM's OpenCL device, named", () => {
  const probe = (platforms: OpenClPlatformsProbe['platforms']): OpenClPlatformsProbe => ({ platformError: 0, platforms });

  it('gives each CL_DEVICE_TYPE its kind, the most capable bit first', () => {
    expect([1, 2, 4, 8, 16, 4 | 2, 8 | 2, 0].map(kindOfType)).toEqual(['unknown', 'cpu', 'gpu', 'accelerator', 'custom', 'gpu', 'accelerator', 'unknown']);
  });

  it("lists TVM's devices as its OpenCL workspace does: every GPU, else every CPU, never an accelerator", () => {
    const accel = { ...MALI_DEVICE, type: 8, name: 'DSP' };
    expect(tvmOpenClDevices(probe([POCL_PLATFORM, MALI_PLATFORM])).map((d) => d.name)).toEqual(['Mali-G610 r0p0']);
    expect(tvmOpenClDevices(probe([POCL_PLATFORM, { ...MALI_PLATFORM, deviceList: [accel] }])).map((d) => d.name)).toEqual([POCL_DEVICE.name]);
    expect(tvmOpenClDevices(probe([{ ...MALI_PLATFORM, deviceList: [accel] }]))).toEqual([]);
  });

  it("identifies opencl:N by TVM's order, and by the name TVM reports when the orders differ", () => {
    const gpu2 = { ...MALI_DEVICE, name: 'Second GPU' };
    const two = probe([{ ...MALI_PLATFORM, deviceList: [MALI_DEVICE, gpu2] }, POCL_PLATFORM]);
    expect(identifyTvmOpenClDevice(two, 1, undefined)?.name).toBe('Second GPU');
    expect(identifyTvmOpenClDevice(two, 0, 'Second GPU')?.name).toBe('Second GPU');
    // A name the ordered list does not hold at that index is looked up among all devices.
    expect(identifyTvmOpenClDevice(two, 0, POCL_DEVICE.name)?.kind).toBe('cpu');
    expect(identifyTvmOpenClDevice(two, 5, undefined)).toBeUndefined();
    expect(identifyTvmOpenClDevice(probe([{ ...POCL_PLATFORM, deviceList: undefined }]), 0, 'x')).toBeUndefined();
  });

  it('names the device through the library TVM opens, without the synchronous runtime calls', async () => {
    const view = fakeView(board());
    expect(await probeTvmOpenClDevice(view, 0)).toMatchObject({ kind: 'gpu', name: 'Mali-G610 r0p0' });
    expect(view.opened).toEqual(['libOpenCL.so']);
    const pocl = fakeView({ ...healthy(), forwarder: '/x/sdmali_opencl.so' });
    expect(await probeTvmOpenClDevice(pocl, 0)).toMatchObject({ kind: 'cpu' });
    expect(pocl.opened).toEqual([]);
    expect(await probeTvmOpenClDevice(fakeView({ ...healthy(), libraries: {} }), 0)).toBeUndefined();
  });

  it('words the refusal with every vendor file and the remedy', () => {
    const device = identifyTvmOpenClDevice(probe([POCL_PLATFORM]), 0, undefined)!;
    const { message, remedy } = cpuOpenClProblem(device, 'opencl:0', {
      where: '/etc/OpenCL/vendors',
      vendors: [
        { file: '/etc/OpenCL/vendors/nvidia.icd', library: 'libnvidia-opencl.so.1' },
        { file: '/etc/OpenCL/vendors/pocl.icd', library: 'libpocl.so.2.10.0' },
      ],
    });
    expect(message).toContain('nvidia.icd -> libnvidia-opencl.so.1, /etc/OpenCL/vendors/pocl.icd -> libpocl.so.2.10.0');
    expect(message).toContain('hours per image');
    expect(remedy).toContain("device 'cpu'");
    expect(describeVendorFiles({ where: 'OCL_ICD_VENDORS=/opt/icds', vendors: [] })).toBe('OCL_ICD_VENDORS=/opt/icds: no .icd file');
  });
});

describe('the native probes', () => {
  it('opens a library and names its file, reports one that is missing, refuses a non-string', async () => {
    const native = nativeBinding();
    const libc = await native.probeSharedLibrary('libc.so.6');
    expect(libc.loaded).toBe(true);
    expect(libc.path).toMatch(/libc\.so\.6$/);
    const missing = await native.probeSharedLibrary('libsd-mali-does-not-exist.so');
    expect(missing.loaded).toBe(false);
    expect(missing.error).toContain('libsd-mali-does-not-exist.so');
    expect(() => native.probeSharedLibrary(42 as unknown as string)).toThrow(TypeError);
    expect(() => native.probeSharedLibrary('a\0b')).toThrow(TypeError);
    const notOpenCl = await native.probeOpenClPlatforms('libc.so.6');
    expect(notOpenCl.error).toContain('not an OpenCL library');
  });
});

const runtimeInfo = testRuntime();
describe.skipIf(!runtimeInfo.available)(titled('the OpenCL set-up of this machine', runtimeInfo), () => {
  it("is PoCL's CPU device: refused by default with the vendor files, ok when a CPU is wanted", async ({ skip }) => {
    const runtime = loadRuntime({ library: runtimeInfo.path });
    const view = openClSystemView(runtime);
    const allowed = await diagnoseOpenCl(view, CPU_OK);
    // Outside CI a developer's machine may lack OpenCL; the answer must still be a cause.
    if (allowed.cause !== 'ok' && process.env['CI'] !== 'true') skip(`OpenCL not set up here: ${allowed.message}`);
    expect(allowed).toMatchObject({ cause: 'ok', device: { kind: 'cpu', platform: 'Portable Computing Language' } });
    expect(runtime.device('opencl').exists).toBe(true);
    // CI registers PoCL alone: TVM falls back to its CPU device, which is refused unless asked for.
    const refused = await diagnoseOpenCl(view);
    expect(refused.cause).toBe('cpu-device');
    expect(refused.device?.name).toBe(await runtime.device('opencl').attributeAsync('deviceName'));
    expect(refused.vendors.vendors.map((v) => v.file)).toContain('/etc/OpenCL/vendors/pocl.icd');
    expect(refused.message).toMatch(/pocl\.icd -> \S*libpocl\.so/);
    // The native probe lists the device with its type and vendor.
    const platforms = await nativeBinding().probeOpenClPlatforms('libOpenCL.so.1');
    const pocl = platforms.platforms.find((p) => p.name === 'Portable Computing Language')!;
    expect(pocl.deviceList).toHaveLength(pocl.devices);
    expect(pocl.deviceList![0]).toMatchObject({ type: 2, name: refused.device!.name });
    expect(pocl.deviceList![0]!.vendor.length).toBeGreaterThan(0);
    expect(pocl.deviceList![0]!.version).toMatch(/^OpenCL \d\.\d/);
  });
});
