/** GET /sdapi/v1/progress, POST /sdapi/v1/interrupt and /sdapi/v1/skip. */
import type { FastifyInstance } from 'fastify';
import { callerOf } from '../caller.js';
import type { ServerContext } from '../context.js';

export function registerProgress(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { skip_current_image: boolean } }>(
    '/sdapi/v1/progress',
    { schema: { querystring: { type: 'object', properties: { skip_current_image: { type: 'boolean', default: false } } } } },
    async (request) => ctx.backend.progress(callerOf(request), request.query.skip_current_image),
  );
  // A1111 answers these with an empty 200 whether or not a job was running.
  app.post('/sdapi/v1/interrupt', async (request) => {
    await ctx.backend.interrupt(callerOf(request));
    return {};
  });
  app.post('/sdapi/v1/skip', async (request) => {
    await ctx.backend.skip(callerOf(request));
    return {};
  });
}
