/**
 * Stopping a job on whichever board runs it. BullMQ aborts a running job's AbortSignal
 * (`worker.cancelJob`) only inside the process that runs it, so the API publishes the
 * request on a BullMQ Relay topic every board subscribes to (BullMQ's documented way to
 * cancel jobs on other workers); the board that holds the job aborts it, the others ignore
 * it. A marker key covers a job picked up after the message went by.
 */
import { Relay } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullConnection } from './connections.js';
import { CANCEL_TOPIC, RELAY_NAMESPACE, cancelKey, PREFIX } from './names.js';

/** interrupt: /interrupt; disconnect: the client went away; skip: /skip (the image running now only). */
export type CancelWhat = 'interrupt' | 'disconnect' | 'skip';

export interface CancelMessage {
  queue: string;
  jobId: string;
  what: CancelWhat;
}

/** How long a marker outlives the job it stops (a job waits at most this long to be picked up after a cancel). */
const MARKER_TTL_S = 3600;

export class CancelChannel {
  readonly #relay: Relay;

  constructor(redisUrl: string, nodeName: string, log: (line: string) => void) {
    this.#relay = new Relay({ connection: bullConnection(redisUrl, 'waiting', `${nodeName}:relay`), prefix: PREFIX, namespace: RELAY_NAMESPACE, name: nodeName, leaseDuration: 15_000 });
    let reported = false;
    this.#relay.on('error', (err: Error) => {
      if (!reported) log(`sd-mali: cancel channel: ${err.message}`);
      reported = true;
    });
    this.#relay.on('recovered', () => {
      reported = false;
    });
  }

  /**
   * Asks the board holding the job to stop it. `client` writes the marker: an answering
   * connection, so this fails at once (and the API answers 503) while Redis is away.
   */
  async publish(client: Redis, message: CancelMessage): Promise<void> {
    if (message.what !== 'skip') await client.set(cancelKey(message.queue, message.jobId), message.what, 'EX', MARKER_TTL_S);
    await this.#relay.publish(CANCEL_TOPIC, message);
  }

  async subscribe(listener: (message: CancelMessage) => void): Promise<void> {
    await this.#relay.subscribe<CancelMessage>(CANCEL_TOPIC, (m) => listener(m.data));
  }

  async close(): Promise<void> {
    await this.#relay.close();
  }
}

/** Whether the job was cancelled before this board picked it up. */
export async function wasCancelled(client: Redis, queue: string, jobId: string): Promise<boolean> {
  return (await client.exists(cancelKey(queue, jobId))) === 1;
}
