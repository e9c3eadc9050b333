/** save_images: PNGs written under the output directory only, with names the server makes. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let counter = 0;

/** Writes `png` as <dir>/<timestamp>-<n>-<seed>.png (never overwriting) and returns the path. */
export async function saveImage(dir: string, png: Uint8Array, seed: bigint, jobTimestamp: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (;;) {
    counter += 1;
    const path = join(dir, `${jobTimestamp}-${String(counter).padStart(5, '0')}-${seed}.png`);
    try {
      await writeFile(path, png, { flag: 'wx' });
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
