/**
 * The fastify instance of a server and the hooks every request passes: Node's timeouts, the
 * JSON parser, the Host check (DNS rebinding), CORS, the cross-site POST check and basic auth,
 * in that order, and FastAPI-shaped errors.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { checkBasicAuth } from './auth.js';
import { BODY_LIMITS } from './body-limits.js';
import { makeErrorHandler } from './http-errors.js';
import { checkCrossSitePost, checkHost, registerJsonParser } from './http-guards.js';
import type { ResolvedServerOptions } from './resolve-options.js';

export function createHttpApp(options: ResolvedServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    // Per route (body-limits.ts); this is for any route that names none.
    bodyLimit: BODY_LIMITS.fallback,
    forceCloseConnections: true,
    // A request (headers and body) that does not arrive in time is dropped, so stalled
    // uploads cannot pin memory; an idle socket is closed (txt2img lifts it once its body is in).
    requestTimeout: options.timeouts.requestTimeoutMs,
    connectionTimeout: options.timeouts.connectionTimeoutMs,
    // Node checks requestTimeout every connectionsCheckingInterval (30 s by default).
    http: { connectionsCheckingInterval: options.timeouts.checkIntervalMs },
    ajv: { customOptions: { allErrors: true } },
  });
  app.setErrorHandler(makeErrorHandler(options.log));
  registerJsonParser(app);
  app.setNotFoundHandler((_request, reply) => void reply.code(404).send({ detail: 'Not Found' }));
  registerRequestHooks(app, options);
  return app;
}

function registerRequestHooks(app: FastifyInstance, { allowedHosts, corsOrigin, credentials }: ResolvedServerOptions): void {
  app.addHook('onRequest', async (request) => checkHost(allowedHosts, request));
  if (corsOrigin !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      void reply.header('access-control-allow-origin', corsOrigin).header('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        void reply
          .header('access-control-allow-methods', 'GET, POST, OPTIONS')
          .header('access-control-allow-headers', 'authorization, content-type')
          .code(204)
          .send();
      }
    });
  }
  app.addHook('onRequest', async (request) => checkCrossSitePost(corsOrigin, request));
  if (credentials) {
    app.addHook('onRequest', async (request) => {
      if (request.method === 'OPTIONS' || request.url === '/internal/ping') return;
      checkBasicAuth(credentials, request.headers.authorization);
    });
  }
}
