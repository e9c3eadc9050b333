/**
 * JSON with bigints written as exact integer literals: seeds run to 2^64, past what a JS
 * number holds (2^53), and A1111's clients (Python) read big integers exactly.
 */
import { randomBytes } from 'node:crypto';

export function stringifyExact(value: unknown): string {
  // A per-call marker no client string can contain (it cannot guess it).
  const marker = `\u0000${randomBytes(8).toString('hex')}:`;
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v}` : v));
  const quoted = JSON.stringify(marker).slice(1, -1);
  return text.replace(new RegExp(`"${quoted.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(-?\\d+)"`, 'g'), '$1');
}
