/**
 * A generation's failure as the HTTP answer the routes give: the client's fault (a bad
 * argument or image) is a 422, a model without the function asked for a 501, a worker that
 * died or could not load a 500 or 503.
 */
import { HttpError } from '../http-errors.js';
import { WorkerCrashedError, WorkerJobError, WorkerLoadError } from './supervisor.js';

export function httpErrorOf(err: unknown): unknown {
  if (err instanceof WorkerCrashedError) return new HttpError(500, err.message);
  if (err instanceof WorkerLoadError) return new HttpError(503, err.message);
  if (err instanceof WorkerJobError) {
    const code = err.failure.code;
    const status = code === 'INVALID_ARGUMENT' || code === 'INVALID_IMAGE' ? 422 : code === 'REBUILD_REQUIRED' ? 501 : 500;
    return new HttpError(status, `${err.failure.name}: ${err.failure.message.split('\n')[0]}`);
  }
  return err;
}
