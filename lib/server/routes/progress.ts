/** GET /sdapi/v1/progress, POST /sdapi/v1/interrupt and /sdapi/v1/skip. */
import type { FastifyInstance } from 'fastify';
import { BODY_LIMITS } from '../body-limits.js';
import type { ServerContext } from '../context.js';

export function registerProgress(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { skip_current_image: boolean } }>(
    '/sdapi/v1/progress',
    { schema: { querystring: { type: 'object', properties: { skip_current_image: { type: 'boolean', default: false } } } } },
    async (request) => ctx.tracker.response(request.query.skip_current_image),
  );
  // A1111 answers these whether or not a job was running: interrupt with {}, skip with null.
  // They read no body; one that is not JSON is refused before they run (http-guards.ts).
  app.post('/sdapi/v1/interrupt', { bodyLimit: BODY_LIMITS.noBody }, async () => {
    ctx.tracker.interrupt();
    return {};
  });
  app.post('/sdapi/v1/skip', { bodyLimit: BODY_LIMITS.noBody }, async () => {
    ctx.tracker.skip();
    return null;
  });
}
