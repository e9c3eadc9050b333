/**
 * sd-mali doctor: is everything `generate` needs here? The runtime and its ABI, the devices
 * TVM sees, the Mali GPU's progress_timeout, memory against the model's weights, and the
 * model directory itself (files, shards, functions, tokenizer), without loading weights.
 * Exit status 0 only when nothing needed is missing; every problem comes with its remedy.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { freemem, platform } from 'node:os';
import { join } from 'node:path';
import { RuntimeNotFoundError, UnsupportedAbiError } from '../errors.js';
import { REQUIRED_FUNCTIONS, describeTokenizerSource, executableFileName, loadTokenizer, resolveTokenizerSource } from '../pipeline/index.js';
import { DEVICE_TYPE, describeVendorFiles, diagnoseOpenCl, inspectProgramCache, loadRuntime, openClForwarderState, openClSystemView, type DeviceKind, type TvmRuntime } from '../tvm/index.js';
import { allowCpuOpenCl } from './cpu-opencl.js';
import { cacheDirFor, describeCache } from './cache-command.js';
import { nativeBinding } from '../tvm/native.js';
import { summarizeWeights } from '../artifacts/index.js';
import { checkShards, entryFunctions, formatBytes, readModel } from './model-report.js';
import { describeRuntimeTvm, executableTvmReports, runtimeTvmReport, tvmAbiChecks } from './abi-report.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface Check {
  area: string;
  status: CheckStatus;
  message: string;
  remedy?: string;
}

export interface DoctorOptions {
  model?: string;
  runtime?: string;
  tokenizer?: string;
  device?: string;
  programCache?: string;
  /** A CPU OpenCL device is what generate will be told to accept (also SD_MALI_ALLOW_CPU_OPENCL=1). */
  allowCpuOpencl?: boolean;
  json?: boolean;
}

/** The Mali kbase driver's GPU watchdog: too short and long UNet kernels are killed. */
const PROGRESS_TIMEOUT_GLOBS = ['/sys/class/misc'];
const PROGRESS_TIMEOUT_MIN = 1_000_000_000;
const PROGRESS_TIMEOUT_REMEDY_VALUE = '99999999999';

function findProgressTimeoutFiles(): string[] {
  const files: string[] = [];
  for (const root of PROGRESS_TIMEOUT_GLOBS) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root)) {
      if (!entry.startsWith('mali')) continue;
      const file = join(root, entry, 'device', 'progress_timeout');
      if (existsSync(file)) files.push(file);
    }
  }
  return files;
}

function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m?.[1]) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return freemem();
}

function checkRuntime(checks: Check[], opts: DoctorOptions): TvmRuntime | undefined {
  try {
    nativeBinding();
    checks.push({ area: 'addon', status: 'ok', message: `native addon loaded (Node.js ${process.version}, ${process.platform}-${process.arch})` });
  } catch (err) {
    checks.push({ area: 'addon', status: 'fail', message: `the native addon does not load: ${(err as Error).message}`, remedy: 'reinstall with a C++ toolchain present: npm rebuild sd-mali' });
    return undefined;
  }
  try {
    const runtime = loadRuntime(opts.runtime !== undefined ? { library: opts.runtime } : {});
    checks.push({ area: 'runtime', status: 'ok', message: `${runtime.libraryPath} (ABI: ${runtime.abi})` });
    return runtime;
  } catch (err) {
    if (err instanceof RuntimeNotFoundError) {
      checks.push({
        area: 'runtime',
        status: 'fail',
        message: `no TVM runtime could be opened; tried:\n${err.attempts.map((a) => `    ${a.path} (${a.source}): ${a.reason}`).join('\n')}`,
        remedy: 'build TVM with USE_OPENCL=ON and set SD_MALI_TVM_RUNTIME=/path/to/libtvm_runtime.so (or pass --runtime)',
      });
    } else if (err instanceof UnsupportedAbiError) {
      checks.push({ area: 'runtime', status: 'fail', message: err.message, remedy: 'point sd-mali at a TVM runtime built with OpenCL: v0.20 or older (legacy ABI), or v0.22 and newer (tvm-ffi)' });
    } else {
      checks.push({ area: 'runtime', status: 'fail', message: (err as Error).message });
    }
    return undefined;
  }
}

function checkDevices(checks: Check[], runtime: TvmRuntime): Set<DeviceKind> {
  const present = new Set<DeviceKind>();
  for (const kind of Object.keys(DEVICE_TYPE) as DeviceKind[]) {
    const attrs = runtime.device(kind).attributes();
    if (!attrs.exists) continue;
    present.add(kind);
    const facts = [
      attrs.name,
      attrs.computeVersion !== undefined ? `compute ${attrs.computeVersion}` : undefined,
      attrs.totalGlobalMemory !== undefined ? `${formatBytes(attrs.totalGlobalMemory)} memory` : undefined,
      attrs.maxThreadsPerBlock !== undefined ? `${attrs.maxThreadsPerBlock} threads/block` : undefined,
      attrs.warpSize !== undefined ? `warp ${attrs.warpSize}` : undefined,
      attrs.multiProcessorCount !== undefined ? `${attrs.multiProcessorCount} compute units` : undefined,
      attrs.driverVersion !== undefined ? `driver ${attrs.driverVersion}` : undefined,
    ].filter((x) => x !== undefined);
    checks.push({ area: 'device', status: 'ok', message: `${kind}:0 ${facts.length ? `— ${facts.join(', ')}` : ''}`.trim() });
  }
  return present;
}

/**
 * Why OpenCL is (not) usable: the first cause in the order a user must fix them, what kind
 * of device TVM's is (a CPU fails for --device opencl unless allowed), and the vendor files.
 */
async function checkOpenCl(checks: Check[], runtime: TvmRuntime, opts: DoctorOptions): Promise<void> {
  const [kind, id] = opts.device?.split(':') ?? [];
  const wanted = kind === 'opencl';
  let d;
  try {
    d = await diagnoseOpenCl(openClSystemView(runtime), { allowCpu: allowCpuOpenCl(opts.allowCpuOpencl), deviceId: wanted && id ? Number(id) || 0 : 0 });
  } catch (err) {
    checks.push({ area: 'opencl', status: 'warn', message: `the OpenCL set-up could not be inspected: ${(err as Error).message}` });
    return;
  }
  // Every case: which vendor files the ICD loader reads and which driver each names.
  checks.push({ area: 'icd', status: 'info', message: `OpenCL vendor files: ${describeVendorFiles(d.vendors)}` });
  if (d.cause === 'ok') {
    checks.push({ area: 'opencl', status: 'ok', message: d.message });
    return;
  }
  if (d.cause === 'cpu-device') {
    // Without --device opencl generate picks the cpu executable over a CPU OpenCL device.
    checks.push({ area: 'opencl', status: wanted ? 'fail' : 'warn', message: d.message, ...(d.remedy ? { remedy: d.remedy } : {}) });
    return;
  }
  // Without --device opencl the CPU may still do; on a board the GPU is the point, so say it loudly.
  checks.push({ area: 'opencl', status: wanted ? 'fail' : 'warn', message: `no OpenCL device: ${d.message}`, ...(d.remedy ? { remedy: d.remedy } : {}) });
}

/** The forwarding library (libOpenCL.so stand-in) and the program cache: where, how full, last run. */
async function checkProgramCache(checks: Check[], opts: DoctorOptions): Promise<void> {
  const forwarder = openClForwarderState();
  if (!forwarder.loaded) {
    checks.push({
      area: 'cache',
      status: 'info',
      message: `OpenCL programs are not cached between runs: ${forwarder.reason ?? 'the forwarding library is not loaded'}`,
    });
    return;
  }
  const contents = await inspectProgramCache(cacheDirFor(opts.programCache));
  checks.push({ area: 'cache', status: 'ok', message: `OpenCL programs: ${describeCache(contents)}` });
}

function checkMali(checks: Check[]): void {
  if (platform() !== 'linux') return;
  const files = findProgressTimeoutFiles();
  if (files.length === 0) {
    checks.push({ area: 'mali', status: 'info', message: 'no Mali kbase driver found (/sys/class/misc/mali*/device/progress_timeout): not an RK3588 Mali setup, nothing to check' });
    return;
  }
  for (const file of files) {
    const value = Number(readFileSync(file, 'utf8').trim());
    if (Number.isFinite(value) && value < PROGRESS_TIMEOUT_MIN) {
      checks.push({
        area: 'mali',
        status: 'warn',
        message: `${file} is ${value}: long UNet kernels will be killed ("Iterator PROGRESS_TIMER timeout" in dmesg)`,
        remedy: `echo ${PROGRESS_TIMEOUT_REMEDY_VALUE} | sudo tee ${file}`,
      });
    } else {
      checks.push({ area: 'mali', status: 'ok', message: `${file} is ${value}` });
    }
  }
}

async function checkModel(checks: Check[], opts: DoctorOptions, runtime: TvmRuntime | undefined, devices: Set<DeviceKind>): Promise<void> {
  const dir = opts.model!;
  let report;
  try {
    report = await readModel(dir);
  } catch (err) {
    checks.push({ area: 'model', status: 'fail', message: (err as Error).message, remedy: 'pass --model with the dist/ directory the TVM build wrote' });
    return;
  }
  const { model, index, indexError } = report;
  const kinds = Object.keys(model.executables);
  if (kinds.length === 0) {
    checks.push({ area: 'model', status: 'fail', message: `${model.dir} has no stable_diffusion_<kind>.so`, remedy: 'build the model (build.py) and copy its dist/ here' });
  }
  const wanted = opts.device?.split(':')[0];
  const usable = kinds.filter((k) => devices.has((k === 'llvm' ? 'cpu' : k) as DeviceKind) && (!wanted || wanted === (k === 'llvm' ? 'cpu' : k)));
  if (kinds.length > 0) {
    if (usable.length > 0) {
      checks.push({ area: 'model', status: 'ok', message: `executables: ${kinds.map(executableFileName).join(', ')}; usable here: ${usable.join(', ')}` });
    } else {
      checks.push({
        area: 'model',
        status: runtime ? 'fail' : 'info',
        message: `executables: ${kinds.join(', ')}, but ${wanted ? `no ${wanted} executable with its device` : 'none for a device present here'}`,
        remedy: kinds.includes('opencl') ? 'make the OpenCL device visible (see the opencl check above)' : 'build the model for this device',
      });
    }
  }
  if (indexError) {
    checks.push({ area: 'weights', status: 'fail', message: indexError.message, remedy: 'copy params/ from the build again: the index is damaged' });
  } else if (!index) {
    checks.push({ area: 'weights', status: 'fail', message: `${model.dir}/params has no ndarray-cache.json or tensor-cache.json`, remedy: 'copy params/ from the build' });
  } else {
    const problems = checkShards(index);
    const summary = summarizeWeights(index);
    if (problems.length > 0) {
      for (const p of problems) checks.push({ area: 'weights', status: 'fail', message: `${p.file} ${p.problem}`, remedy: 'copy params/ from the build again' });
    } else {
      checks.push({ area: 'weights', status: 'ok', message: `${summary.shards} shard(s), ${formatBytes(summary.storedBytes)} stored, ${formatBytes(summary.deviceBytes)} on the device (${summary.formats.join(', ')})` });
    }
    const free = availableMemory();
    // The weights go to the device; on the RK3588 that is the same RAM. Activations and the
    // VM's pools need room besides.
    const status: CheckStatus = free < summary.deviceBytes ? 'fail' : free < summary.deviceBytes * 1.5 ? 'warn' : 'ok';
    checks.push({
      area: 'memory',
      status,
      message: `${formatBytes(free)} available, the weights take ${formatBytes(summary.deviceBytes)} on the device`,
      ...(status === 'ok' ? {} : { remedy: 'close other programs or add swap (zram); an FP16 build halves the weights' }),
    });
  }
  checks.push(...tvmAbiChecks(model.executables, runtime));
  const tvmReports = executableTvmReports(model.executables, runtime);
  if (runtime) {
    for (const kind of usable) {
      if (tvmReports[kind]?.matchesRuntime === false) continue; // reported by the tvm check
      const file = model.executables[kind as keyof typeof model.executables]!;
      try {
        const functions = entryFunctions(runtime, file);
        const missing = REQUIRED_FUNCTIONS.filter((f) => !functions.includes(f));
        checks.push(
          missing.length === 0
            ? { area: 'model', status: 'ok', message: `${executableFileName(kind)} has ${REQUIRED_FUNCTIONS.join(', ')}` }
            : { area: 'model', status: 'fail', message: `${executableFileName(kind)} lacks ${missing.join(', ')}`, remedy: 'rebuild the model with build.py (all entry functions)' },
        );
      } catch (err) {
        checks.push({ area: 'model', status: 'fail', message: `${executableFileName(kind)} does not load: ${(err as Error).message.split('\n')[0]}`, remedy: 'rebuild it with the TVM version of this runtime' });
      }
    }
  }
  const source = resolveTokenizerSource(model, opts.tokenizer);
  try {
    const tok = await loadTokenizer(source);
    checks.push({ area: 'tokenizer', status: 'ok', message: `${describeTokenizerSource(source)}, ${tok.vocabSize} tokens` });
  } catch (err) {
    checks.push({
      area: 'tokenizer',
      status: 'fail',
      message: (err as Error).message,
      remedy: source.origin === 'bundled' ? 'reinstall sd-mali (its assets/ folder is incomplete)' : `fix ${source.path}, or remove it to use the bundled SD 1.x tokenizer`,
    });
  }
}

export async function runDoctor(opts: DoctorOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const runtime = checkRuntime(checks, opts);
  if (runtime) checks.push({ area: 'tvm', status: 'ok', message: describeRuntimeTvm(runtimeTvmReport(runtime)) });
  const devices = runtime ? checkDevices(checks, runtime) : new Set<DeviceKind>();
  if (runtime) await checkOpenCl(checks, runtime, opts);
  if (runtime) await checkProgramCache(checks, opts);
  checkMali(checks);
  if (opts.model !== undefined) await checkModel(checks, opts, runtime, devices);
  else checks.push({ area: 'model', status: 'info', message: 'no --model given: the model directory was not checked' });
  return checks;
}

const MARK: Record<CheckStatus, string> = { ok: '[ ok ]', warn: '[warn]', fail: '[FAIL]', info: '[info]' };

export async function doctorCommand(opts: DoctorOptions): Promise<number> {
  const checks = await runDoctor(opts);
  const failed = checks.filter((c) => c.status === 'fail').length;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks }, null, 2)}\n`);
  } else {
    const lines = checks.map((c) => `${MARK[c.status]} ${c.area.padEnd(9)} ${c.message}${c.remedy ? `\n       ${''.padEnd(9)} -> ${c.remedy}` : ''}`);
    const warned = checks.filter((c) => c.status === 'warn').length;
    lines.push('', failed === 0 ? `ready to generate${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}` : `${failed} problem${failed > 1 ? 's' : ''} to fix before generate will work`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return failed === 0 ? 0 : 1;
}
