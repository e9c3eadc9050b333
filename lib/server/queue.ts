/**
 * One generation at a time, the rest waiting in arrival order. A full queue refuses with a
 * 429; a waiter whose signal fires (its client went away) leaves the queue without running.
 */
import { AbortError } from '../errors.js';
import { HttpError } from './http-errors.js';

interface Waiter {
  start: () => void;
  signal: AbortSignal | undefined;
}

export class GenerationQueue {
  #waiting: Waiter[] = [];
  #running = false;

  /** `capacity`: how many may wait behind the running one. */
  constructor(readonly capacity: number) {}

  /** Requests waiting, not counting the one running. */
  get waiting(): number {
    return this.#waiting.length;
  }

  get busy(): boolean {
    return this.#running;
  }

  /** Runs `task` when every task submitted before it has ended. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new AbortError('the request was cancelled before it was queued');
    if (this.#running) {
      if (this.#waiting.length >= this.capacity) {
        throw new HttpError(429, `the queue is full (${this.#waiting.length} requests waiting behind the one running); try again later`, { 'retry-after': '10' });
      }
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { start: resolve, signal };
        const leave = (): void => {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(new AbortError('the request was cancelled while it waited in the queue'));
        };
        waiter.start = () => {
          signal?.removeEventListener('abort', leave);
          resolve();
        };
        signal?.addEventListener('abort', leave, { once: true });
        this.#waiting.push(waiter);
      });
    }
    this.#running = true;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next.start(); // #running stays true: the next one owns the slot now
      else this.#running = false;
    }
  }
}
