/**
 * Who a request comes from, for /progress and /interrupt, which act on the caller's own job
 * (with a remote backend several jobs run at once). A1111's API has no job handle there, so
 * the caller is its address and, with --api-auth, its user.
 */
import type { FastifyRequest } from 'fastify';
import type { Caller } from './generation-backend.js';

function basicAuthUser(header: string | undefined): string {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return '';
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : '';
}

export function callerOf(request: FastifyRequest): Caller {
  return { key: `${request.ip}|${basicAuthUser(request.headers.authorization)}` };
}

/** The checkpoint a request names (A1111's override_settings.sd_model_checkpoint), as sent: servesCheckpoint matches it. */
export function requestedCheckpoint(body: unknown): string | undefined {
  const overrides = (body as { override_settings?: unknown } | null)?.override_settings;
  const name = (overrides as { sd_model_checkpoint?: unknown } | null | undefined)?.sd_model_checkpoint;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}
