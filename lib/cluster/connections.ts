/**
 * Redis connections of the cluster's processes. Two kinds:
 * - waiting ones (BullMQ's Worker and QueueEvents, the board's result writes): they keep
 *   commands while Redis is away and send them when it is back, so a board finishing a job
 *   during an outage still delivers it;
 * - answering ones (the API's queue and registry reads, heartbeats): they fail at once while
 *   Redis is away, so the API answers 503 instead of hanging, and reconnect by themselves.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { checkRedisUrl } from './redis-url.js';

/** Reconnect forever, waiting up to 1 s between tries: an outage ends when Redis is back. */
const retryStrategy = (times: number): number => Math.min(100 * times, 1000);

export type ConnectionRole = 'waiting' | 'answering';

/** ioredis options for a role (the URL brings host, port, db, user, password and TLS). */
export function connectionOptions(role: ConnectionRole, name: string): RedisOptions {
  return role === 'waiting'
    ? { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy, connectionName: name }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy, connectionName: name, connectTimeout: 3000 };
}

/** BullMQ's `connection` option: the URL with the role's options (BullMQ opens its own clients). */
export function bullConnection(url: string, role: ConnectionRole, name: string): BullRedisOptions {
  checkRedisUrl(url);
  const { maxRetriesPerRequest, enableOfflineQueue, connectionName, connectTimeout } = connectionOptions(role, name);
  return { url, maxRetriesPerRequest, enableOfflineQueue, connectionName, retryStrategy, ...(connectTimeout !== undefined ? { connectTimeout } : {}) };
}

/** A client of our own; its errors are reported through `onError` (at most once per outage). */
export function openRedis(url: string, role: ConnectionRole, name: string, onError: (message: string) => void): Redis {
  checkRedisUrl(url);
  const client = new Redis(url, connectionOptions(role, name));
  let reported = false;
  client.on('error', (err: Error) => {
    if (!reported) onError(`Redis (${name}): ${err.message}`);
    reported = true;
  });
  client.on('ready', () => {
    reported = false;
  });
  return client;
}

const FATAL_CONNECT_ERROR = /WRONGPASS|NOAUTH|NOPERM|certificate|self[- ]signed/i;

/** Resolves once `client` is connected, or rejects with why after `timeoutMs`. */
export async function waitConnected(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError = 'no answer';
    const onError = (err: Error): void => {
      lastError = err.message;
      // Credentials and certificates do not fix themselves: say so now, not at the timeout.
      if (FATAL_CONNECT_ERROR.test(err.message)) {
        cleanup();
        reject(new Error(`Redis refused the connection: ${err.message}`));
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`could not reach Redis within ${timeoutMs} ms: ${lastError}`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/**
 * Waits for `work` at most `ms` (errors ignored): closing a BullMQ object while Redis is away
 * can wait for a reconnection that never comes, and a shutdown must end.
 */
export async function settleWithin(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!work) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
