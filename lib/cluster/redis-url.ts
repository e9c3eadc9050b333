/**
 * The Redis URL every part of the cluster is given: redis:// or rediss:// (TLS), user and
 * password in it, as ioredis reads it. Kept free of BullMQ so the local server can show it
 * without loading the queue.
 */
import { InvalidArgumentError } from '../errors.js';

/** Throws a clear error for anything but a redis:// or rediss:// URL with a host. */
export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`'${redactRedisUrl(url)}' is not a Redis URL: write redis://[user:password@]host[:port][/db] or rediss://… for TLS`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidArgumentError(`'${redactRedisUrl(url)}' is not a Redis URL (${parsed.protocol} given): write redis://[user:password@]host[:port][/db] or rediss://… for TLS`);
  }
  if (parsed.hostname === '') throw new InvalidArgumentError(`the Redis URL '${redactRedisUrl(url)}' has no host`);
  return parsed;
}

/** The URL with its password replaced, for logs, /cmd-flags and status. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
