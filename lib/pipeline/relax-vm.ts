/**
 * A Relax VM executable (stable_diffusion_<kind>.so): loaded, initialised for a device,
 * and its entry functions fetched by name.
 */
import { basename } from 'node:path';
import { assertExecutableMatchesRuntime } from '../artifacts/index.js';
import { ArtifactError } from '../errors.js';
import { int, type Device, type Module, type PackedFunction, type TvmInt, type TvmRuntime } from '../tvm/index.js';

/** alloc_type of vm_initialization: 2 is TVM's pooled allocator (1 the naive one). */
const POOLED_ALLOCATOR = 2;
const CPU_DEVICE_TYPE = 1;

/** What vm_load_executable returned, if it is the VM module. */
function vmModule(file: string, made: unknown): Module {
  if (!made || typeof made !== 'object' || !('findFunction' in made)) throw new ArtifactError(file, 'vm_load_executable returned no VM module');
  return made as Module;
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
   * the device is not the CPU (the VM runs shape functions there).
   */
  static open(runtime: TvmRuntime, file: string, device: Device): RelaxVm {
    // A TVM v0.20 build given to a v0.22+ runtime (or the reverse) would load as an empty
    // library and fail obscurely: say which TVM each side is instead.
    assertExecutableMatchesRuntime(file, runtime.abi, runtime.libraryPath);
    const library = runtime.loadModule(file);
    let vm: Module | undefined;
    try {
      const load = library.findFunction('vm_load_executable');
      if (!load) throw new ArtifactError(file, "has no 'vm_load_executable': it is not a Relax VM executable");
      const made = load.call();
      load.dispose();
      vm = vmModule(file, made);
      const init = vm.findFunction('vm_initialization');
      if (!init) throw new ArtifactError(file, "the VM has no 'vm_initialization'");
      init.call(...initializationArgs(device));
      init.dispose();
      return new RelaxVm(file, library, vm);
    } catch (err) {
      vm?.dispose();
      library.dispose();
      throw err;
    }
  }

  /**
   * open() with every step on the runtime's worker thread: loading, making and initialising
   * the VM never block the event loop (another pipeline on the same runtime may be in a
   * long model call).
   */
  static async openAsync(runtime: TvmRuntime, file: string, device: Device): Promise<RelaxVm> {
    // As in open(): the dynamic symbols alone say which TVM made it (a few small reads).
    assertExecutableMatchesRuntime(file, runtime.abi, runtime.libraryPath);
    const library = await runtime.loadModuleAsync(file);
    let vm: Module | undefined;
    try {
      const load = await library.findFunctionAsync('vm_load_executable');
      if (!load) throw new ArtifactError(file, "has no 'vm_load_executable': it is not a Relax VM executable");
      const made = await load.callAsync();
      load.dispose();
      vm = vmModule(file, made);
      const init = await vm.findFunctionAsync('vm_initialization');
      if (!init) throw new ArtifactError(file, "the VM has no 'vm_initialization'");
      await init.callAsync(...initializationArgs(device));
      init.dispose();
      return new RelaxVm(file, library, vm);
    } catch (err) {
      vm?.dispose();
      library.dispose();
      throw err;
    }
  }

  /** has() on the runtime's worker thread; what it finds is kept for fn(). */
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

  has(name: string): boolean {
    if (this.#functions.has(name)) return true;
    const fn = this.#vm.findFunction(name);
    if (fn) this.#functions.set(name, fn);
    return fn !== undefined;
  }

  /** An entry function; a missing one is an ArtifactError naming the executable. */
  fn(name: string): PackedFunction {
    const cached = this.#functions.get(name);
    if (cached) return cached;
    const fn = this.#vm.findFunction(name);
    if (!fn) throw this.missingFunction(name);
    this.#functions.set(name, fn);
    return fn;
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
