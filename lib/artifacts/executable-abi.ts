/**
 * Which TVM ABI compiled a model executable (stable_diffusion_<kind>.so), read from its
 * dynamic symbol table without loading it: TVM <= v0.21 embeds its modules as
 * `__tvm_dev_mblob`, TVM >= v0.22 (tvm-ffi) as `__tvm_ffi__library_bin`. Neither runtime
 * runs the other's files, so this is checked before a runtime is asked to.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { AbiMismatchError, ArtifactError } from '../errors.js';

export type ExecutableAbi = 'legacy' | 'tvm-ffi' | 'unknown';

export const LEGACY_BLOB_SYMBOL = '__tvm_dev_mblob';
export const FFI_BLOB_SYMBOL = '__tvm_ffi__library_bin';

const SHT_DYNSYM = 11;
const SYMBOL_BYTES = 24;
/** Symbol tables larger than this are not read (a model's has a few hundred entries). */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  if (n !== length) throw new RangeError('short read');
  return buf;
}

/** Names of the defined dynamic symbols of a little-endian ELF64 file; undefined when it is not one. */
export function readDynamicSymbols(file: string): Set<string> | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = readAt(fd, 0, 64);
    // \x7fELF, 64-bit, little-endian.
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined;
    const shoff = Number(header.readBigUInt64LE(0x28));
    const shentsize = header.readUInt16LE(0x3a);
    const shnum = header.readUInt16LE(0x3c);
    if (shoff === 0 || shentsize < 64 || shnum === 0) return undefined;
    const sections = readAt(fd, shoff, shentsize * shnum);
    const section = (i: number): { type: number; offset: number; size: number; link: number } => ({
      type: sections.readUInt32LE(i * shentsize + 4),
      offset: Number(sections.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(sections.readBigUInt64LE(i * shentsize + 0x20)),
      link: sections.readUInt32LE(i * shentsize + 0x28),
    });
    for (let i = 0; i < shnum; i++) {
      const dynsym = section(i);
      if (dynsym.type !== SHT_DYNSYM || dynsym.link >= shnum) continue;
      const strtab = section(dynsym.link);
      if (dynsym.size > MAX_TABLE_BYTES || strtab.size > MAX_TABLE_BYTES) return undefined;
      const symbols = readAt(fd, dynsym.offset, dynsym.size);
      const strings = readAt(fd, strtab.offset, strtab.size);
      const names = new Set<string>();
      for (let s = 0; s + SYMBOL_BYTES <= symbols.length; s += SYMBOL_BYTES) {
        const nameOffset = symbols.readUInt32LE(s);
        const shndx = symbols.readUInt16LE(s + 6);
        if (shndx === 0 || nameOffset === 0 || nameOffset >= strings.length) continue; // undefined or unnamed
        const end = strings.indexOf(0, nameOffset);
        names.add(strings.toString('latin1', nameOffset, end < 0 ? strings.length : end));
      }
      return names;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The ABI of the TVM that compiled `file`; 'unknown' when neither marker is there. */
export function executableAbi(file: string): ExecutableAbi {
  const symbols = readDynamicSymbols(file);
  if (!symbols) return 'unknown';
  if (symbols.has(FFI_BLOB_SYMBOL)) return 'tvm-ffi';
  if (symbols.has(LEGACY_BLOB_SYMBOL)) return 'legacy';
  return 'unknown';
}

const ELF_MACHINES: Record<number, string> = { 3: 'x86', 40: 'arm', 62: 'x86_64', 183: 'aarch64', 243: 'riscv64' };
const NODE_ARCH_MACHINE: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'arm', ia32: 'x86', riscv64: 'riscv64' };

/** The processor an ELF file's code is for (e_machine), e.g. 'aarch64'; undefined when it is not ELF. */
export function executableMachine(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const header = readAt(fd, 0, 20);
    if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = header.readUInt16LE(18);
    return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** This process's processor, in executableMachine's names. */
export function hostMachine(): string {
  return NODE_ARCH_MACHINE[process.arch] ?? process.arch;
}

/**
 * Throws ArtifactError when the executable's host code is for another processor (a
 * `--target mali` build, aarch64, on an x86-64 machine): dlopen would only say "wrong ELF class".
 */
export function assertExecutableRunsHere(file: string): void {
  const machine = executableMachine(file);
  if (machine === undefined || machine === hostMachine()) return;
  throw new ArtifactError(
    file,
    `its host code is for ${machine} and this machine is ${hostMachine()}: copy the model directory to a ${machine} board ` +
      `(a --target mali build runs on RK3588 boards), or build one for this machine with sd-mali build --target opencl (or cpu)`,
  );
}

/** The TVM releases that write (and run) an executable of this ABI. */
export function tvmVersionOfExecutableAbi(abi: ExecutableAbi): string {
  if (abi === 'tvm-ffi') return `TVM >= v0.22 (tvm-ffi ABI, ${FFI_BLOB_SYMBOL})`;
  if (abi === 'legacy') return `TVM <= v0.20 (legacy ABI, ${LEGACY_BLOB_SYMBOL})`;
  return 'an unknown TVM version (neither module blob symbol)';
}

/** What to do about an executable the runtime cannot run. */
export function abiMismatchRemedy(executable: 'legacy' | 'tvm-ffi'): string {
  return executable === 'legacy'
    ? 'rebuild the model with the TVM version of this runtime, or point sd-mali at a TVM <= v0.20 runtime (--runtime / SD_MALI_TVM_RUNTIME)'
    : 'rebuild the model with the TVM version of this runtime, or point sd-mali at a TVM >= v0.22 runtime (its libtvm_runtime.so with libtvm_ffi.so beside it; --runtime / SD_MALI_TVM_RUNTIME)';
}

/**
 * Throws AbiMismatchError when `file` was compiled for the other ABI than the runtime's.
 * An executable without either marker is left to the runtime to judge.
 */
export function assertExecutableMatchesRuntime(file: string, runtimeAbi: 'legacy' | 'tvm-ffi', runtimePath: string): void {
  assertExecutableRunsHere(file);
  const abi = executableAbi(file);
  if (abi === 'unknown' || abi === runtimeAbi) return;
  const runtimeVersion = runtimeAbi === 'tvm-ffi' ? 'TVM >= v0.22 (tvm-ffi ABI)' : 'TVM <= v0.20 (legacy ABI)';
  throw new AbiMismatchError(
    file,
    abi,
    runtimeAbi,
    `was compiled by ${tvmVersionOfExecutableAbi(abi)}, but the runtime ${runtimePath} is ${runtimeVersion}: ` +
      `neither runs the other's files. ${abiMismatchRemedy(abi)}`,
  );
}
