// Why TVM sees no OpenCL device: each cause on a fake view of the system, in the order a
// user has to fix them, and the real answer on this machine (CI installs PoCL and the
// libOpenCL.so link, so it must be 'ok').
import { describe, expect, it } from 'vitest';
import { diagnoseOpenCl, loadRuntime, openClSystemView, TVM_OPENCL_LIBRARY_NAMES, type OpenClSystemView } from '../lib/tvm/index.js';
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
}

/** A healthy Debian machine with PoCL: the starting point each case breaks one thing of. */
function healthy(): Required<Omit<FakeSystem, 'forwarder'>> {
  return {
    runtimeHasOpenCl: true,
    tvmSeesDevice: true,
    libraries: {
      'libOpenCL.so.1': '/lib/x86_64-linux-gnu/libOpenCL.so.1',
      'libOpenCL.so': '/lib/x86_64-linux-gnu/libOpenCL.so',
      'libpocl.so.2.10.0': '/lib/x86_64-linux-gnu/libpocl.so.2.10.0',
    },
    files: { '/etc/OpenCL/vendors/pocl.icd': 'libpocl.so.2.10.0\n' },
    dirs: { '/etc/OpenCL/vendors': ['pocl.icd'] },
    env: {},
    platforms: { platformError: 0, platforms: [{ name: 'Portable Computing Language', vendor: 'The pocl project', version: 'OpenCL 3.0 PoCL', devices: 1 }] },
  };
}

function fakeView(system: FakeSystem): OpenClSystemView & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    runtimeHasOpenCl: () => system.runtimeHasOpenCl ?? true,
    forwarderPath: () => system.forwarder,
    tvmSeesDevice: () => system.tvmSeesDevice ?? false,
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
  it('is ok on a healthy system', async () => {
    const d = await diagnoseOpenCl(fakeView(healthy()));
    expect(d.cause).toBe('ok');
    expect(d.message).toContain('Portable Computing Language (1 device)');
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
    expect((await diagnoseOpenCl(fakeView(sys))).cause).toBe('ok');
  });

  it("3. is satisfied by sd-mali's forwarding library answering to libOpenCL.so, and says so", async () => {
    const sys = healthy();
    const forwarder = '/opt/node_modules/sd-mali/build/Release/sdmali_opencl.so';
    sys.libraries['libOpenCL.so'] = forwarder;
    const d = await diagnoseOpenCl(fakeView({ ...sys, forwarder }));
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
    const asLib = await diagnoseOpenCl(fakeView({ ...sys, env: { OCL_ICD_VENDORS: 'libpocl.so.2.10.0' } }));
    expect(asLib.cause).toBe('ok');
  });

  it('4. names a driver that loads but registers no platform', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false, platforms: { platformError: -1001, platforms: [] } }));
    expect(d.cause).toBe('vendor-library-fails');
    expect(d.message).toContain('clGetPlatformIDs: -1001');
  });

  it('5. names a platform without a device', async () => {
    const d = await diagnoseOpenCl(
      fakeView({ ...healthy(), tvmSeesDevice: false, platforms: { platformError: 0, platforms: [{ name: 'ARM Platform', vendor: 'ARM', version: 'OpenCL 3.0', devices: 0 }] } }),
    );
    expect(d.cause).toBe('no-device');
    expect(d.message).toContain('ARM Platform (0 devices)');
    expect(d.remedy).toContain('/dev/mali0');
  });

  it('says what it found when everything looks right and TVM still sees nothing', async () => {
    const d = await diagnoseOpenCl(fakeView({ ...healthy(), tvmSeesDevice: false }));
    expect(d.cause).toBe('unknown');
    expect(d.message).toContain('TVM still sees no device');
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
  it('is ok: CI installs the ICD loader, its libOpenCL.so link and PoCL', async ({ skip }) => {
    const runtime = loadRuntime({ library: runtimeInfo.path });
    const d = await diagnoseOpenCl(openClSystemView(runtime));
    // Outside CI a developer's machine may lack OpenCL; the answer must still be a cause.
    if (d.cause !== 'ok' && process.env['CI'] !== 'true') skip(`OpenCL not set up here: ${d.message}`);
    expect(d).toMatchObject({ cause: 'ok' });
    expect(runtime.device('opencl').exists).toBe(true);
  });
});
