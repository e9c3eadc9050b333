/** Where `generate` writes, and writing it so no half-written PNG is ever left behind. */
import { link, rename, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** sd-<seed>-<first words of the prompt>.png */
export function defaultOutputName(seed: bigint | undefined, prompt: string): string {
  const slug = prompt
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return `sd-${seed ?? 'latents'}${slug ? `-${slug}` : ''}.png`;
}

export class OutputExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} exists; pass --force to overwrite it or --output to choose another name`);
    this.name = 'OutputExistsError';
  }
}

export function checkWritable(path: string, force: boolean): void {
  if (!force && existsSync(path)) throw new OutputExistsError(path);
}

/**
 * Writes to a temporary file beside the target, then moves it into place in one step:
 * rename (replacing) with --force, link (failing if the name was taken meanwhile) without.
 */
export async function writeAtomically(path: string, data: Uint8Array, force: boolean): Promise<string> {
  const target = resolve(path);
  const temp = join(dirname(target), `.${process.pid}-${Date.now()}.sd-mali.tmp`);
  await writeFile(temp, data, { flag: 'wx' });
  try {
    if (force) {
      await rename(temp, target);
    } else {
      try {
        await link(temp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OutputExistsError(target);
        throw err;
      }
      await unlink(temp);
    }
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  return target;
}
