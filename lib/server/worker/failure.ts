/** How an error crosses the IPC, and whether it leaves the device unusable. */
import { SdMaliError } from '../../errors.js';
import type { WorkerFailure } from './protocol.js';

/**
 * TVM and OpenCL errors raised while running (a Mali CS_INHERIT_FAULT, CL_OUT_OF_RESOURCES,
 * a failed sync) can leave the context and queue broken for the rest of the process, so the
 * worker that saw one is replaced. Bad arguments and aborts leave it fine.
 */
export function isDevicePoisoning(err: unknown): boolean {
  return err instanceof SdMaliError && err.code === 'TVM_ERROR';
}

export function describeFailure(err: unknown): WorkerFailure {
  if (err instanceof Error) {
    const code = err instanceof SdMaliError ? err.code : (err as NodeJS.ErrnoException).code;
    return { name: err.name, code: typeof code === 'string' ? code : undefined, message: err.message, poisoned: isDevicePoisoning(err) };
  }
  return { name: 'Error', code: undefined, message: String(err), poisoned: false };
}
