/** The version in sd-mali's package.json, read once (the CLI's --version, the server's infotext). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './tvm/native.js';

let version: string | undefined;

export function packageVersion(): string {
  if (version !== undefined) return version;
  try {
    version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    version = 'unknown';
  }
  return version;
}
