/**
 * A Relax VM executable (stable_diffusion_<kind>.so): loaded, initialised for a device,
 * and its entry functions fetched by name. Every step runs on the runtime's worker thread.
 */
import { basename } from 'node:path';
import { assertExecutableMatchesRuntime } from '../artifacts/index.js';
import { ArtifactError } from '../errors.js';
import { int, Module, type Device, type PackedFunction, type TvmInt, type TvmRuntime } from '../tvm/index.js';

/** alloc_type of vm_initialization: 2 is TVM's pooled allocator (1 the naive one). */
const POOLED_ALLOCATOR = 2;
const CPU_DEVICE_TYPE = 1;

/** What vm_load_executable returned, if it is the VM module. */
function vmModule(file: string, made: unknown): Module {
  if (!(made instanceof Module)) throw new ArtifactError(file, 'vm_load_executable returned no VM module');
  return made;
}

/**
 * vm_initialization's arguments: (device_type, device_id, alloc_type) for the device, then
 * the CPU when the device is not the CPU (the VM runs shape functions there).
 */
function initializationArgs(device: Device): TvmInt[] {
  const args = [int(device.deviceType), int(device.deviceId), int(POOLED_ALLOCATOR)];
  if (device.deviceType !== CPU_DEVICE_TYPE) args.push(int(CPU_DEVICE_TYPE), int(0), int(POOLED_ALLOCATOR));
  return args;
}

/**
 * The executable's library and the VM module vm_load_executable makes of it, not yet
 * initialised for a device: enough to read its function table (`sd-mali info`, `doctor`).
 * The caller owns both modules.
 */
export async function loadVmExecutable(runtime: TvmRuntime, file: string): Promise<{ library: Module; vm: Module }> {
  // A TVM v0.20 build given to a v0.22+ runtime (or the reverse) would load as an empty
  // library and fail obscurely: the dynamic symbols alone say which TVM made it.
  assertExecutableMatchesRuntime(file, runtime.abi, runtime.libraryPath);
  const library = await runtime.loadModuleAsync(file);
  try {
    const load = await library.findFunctionAsync('vm_load_executable');
    if (!load) throw new ArtifactError(file, "has no 'vm_load_executable': it is not a Relax VM executable");
    try {
      return { library, vm: vmModule(file, await load.callAsync()) };
    } finally {
      load.dispose();
    }
  } catch (err) {
    library.dispose();
    throw err;
  }
}

export class RelaxVm implements Disposable {
  readonly file: string;
  readonly #library: Module;
  readonly #vm: Module;
  readonly #functions = new Map<string, PackedFunction>();

  private constructor(file: string, library: Module, vm: Module) {
    this.file = file;
    this.#library = library;
    this.#vm = vm;
  }

  /**
   * Loads `file`, makes the VM and initialises it on `device`; the CPU is appended when
   * the device is not the CPU (the VM runs shape functions there). Never blocks the event
   * loop (another pipeline on the same runtime may be in a long model call).
   */
  static async openAsync(runtime: TvmRuntime, file: string, device: Device): Promise<RelaxVm> {
    const { library, vm } = await loadVmExecutable(runtime, file);
    try {
      const init = await vm.findFunctionAsync('vm_initialization');
      if (!init) throw new ArtifactError(file, "the VM has no 'vm_initialization'");
      try {
        await init.callAsync(...initializationArgs(device));
      } finally {
        init.dispose();
      }
      return new RelaxVm(file, library, vm);
    } catch (err) {
      vm.dispose();
      library.dispose();
      throw err;
    }
  }

  /** Whether the executable has the entry function `name`; what it finds is kept for fn(). */
  async hasAsync(name: string): Promise<boolean> {
    if (this.#functions.has(name)) return true;
    const fn = await this.#vm.findFunctionAsync(name);
    if (fn) this.#functions.set(name, fn);
    return fn !== undefined;
  }

  /** The error for an entry function the executable lacks. */
  missingFunction(name: string): ArtifactError {
    return new ArtifactError(this.file, `has no function '${name}' (${basename(this.file)} was not compiled with it)`);
  }

  /**
   * An entry function hasAsync() found (the pipeline asks for each at load); one it did not
   * find is an ArtifactError naming the executable.
   */
  fn(name: string): PackedFunction {
    const found = this.#functions.get(name);
    if (!found) throw this.missingFunction(name);
    return found;
  }

  dispose(): void {
    for (const fn of this.#functions.values()) fn.dispose();
    this.#functions.clear();
    this.#vm.dispose();
    this.#library.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
