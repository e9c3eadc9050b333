/** Temporary model directories made from the stand-in: other weight variants, damaged files. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, readFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ModelDirOptions {
  /** Which weights folder of the stand-in becomes params/ (default 'params'). */
  params?: 'params' | 'params-raw';
  /** Copy params/ instead of linking it, so it can be damaged. */
  copyParams?: boolean;
  /** Executables to link, by kind (default cpu and opencl). */
  executables?: Record<string, string>;
}

export function makeModelDir(standin: string, options: ModelDirOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-model-'));
  const executables = options.executables ?? {
    cpu: join(standin, 'stable_diffusion_cpu.so'),
    opencl: join(standin, 'stable_diffusion_opencl.so'),
  };
  for (const [kind, file] of Object.entries(executables)) symlinkSync(file, join(dir, `stable_diffusion_${kind}.so`));
  const source = join(standin, options.params ?? 'params');
  if (options.copyParams) {
    mkdirSync(join(dir, 'params'));
    for (const f of readdirSync(source)) copyFileSync(join(source, f), join(dir, 'params', f));
  } else {
    symlinkSync(source, join(dir, 'params'));
  }
  return dir;
}

export function truncateFile(path: string, bytes: number): void {
  truncateSync(path, bytes);
}

export function removeFile(path: string): void {
  rmSync(path);
}

export function rewriteFile(path: string, edit: (text: string) => string): void {
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
}
