/**
 * What every request passes before a route sees it:
 * - JSON bodies only (text/plain is refused: it is what a cross-site form or no-cors fetch
 *   can send without a preflight); an empty JSON body is no body, as FastAPI treats it;
 *   nesting deeper than MAX_JSON_DEPTH is refused by a linear scan before JSON.parse.
 * - On a loopback bind, the Host header must name this machine (DNS rebinding).
 * - A POST from a browser page on another site is refused unless --cors-origin allows it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_JSON_DEPTH } from './body-limits.js';
import { HttpError } from './http-errors.js';
import { logValue } from './log-value.js';

const STRUCTURAL = /["[\]{}]/g;

/**
 * The depth of the deepest array or object in `text` (strings skipped), in one pass that
 * jumps from one structural character to the next (an 8 MB base64 string is one jump).
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  STRUCTURAL.lastIndex = 0;
  for (let m = STRUCTURAL.exec(text); m !== null; m = STRUCTURAL.exec(text)) {
    const c = text.charCodeAt(m.index);
    if (c === 34 /* " */) {
      // To the closing quote: one not preceded by an odd number of backslashes.
      let end = m.index;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return max;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 92) slashes++;
        if (slashes % 2 === 0) break;
      }
      STRUCTURAL.lastIndex = end + 1;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) max = depth;
    } else {
      depth--;
    }
  }
  return max;
}

export function registerJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      done(new HttpError(422, [{ loc: ['body'], msg: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, type: 'value_error.jsondepth' }]), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** The host name of a Host header: lower case, without the port. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** undefined: every Host is answered. */
export function allowedHostNames(bindHost: string, loopback: boolean, extra: readonly string[] | undefined): Set<string> | undefined {
  if (extra?.includes('*')) return undefined;
  if (!loopback && (extra === undefined || extra.length === 0)) return undefined;
  const names = new Set((extra ?? []).map((h) => hostName(h)));
  if (loopback) for (const n of [...LOOPBACK_NAMES, hostName(bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost)]) names.add(n);
  return names;
}

export function checkHost(allowed: Set<string> | undefined, request: FastifyRequest): void {
  const header = request.headers.host;
  // A request without Host is HTTP/1.0 from a program: no browser sends one, so no page can.
  if (!allowed || header === undefined) return;
  if (!allowed.has(hostName(header))) {
    throw new HttpError(403, `Host ${logValue(header, 64)} is not one this server answers to (${[...allowed].filter((h) => h !== '::1').join(', ')}); start it with --allowed-hosts to add names`);
  }
}

/** Whether a browser says this request comes from a page on another site. */
function crossSiteOrigin(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  if (request.headers['sec-fetch-site'] === 'cross-site') return origin ?? 'another site';
  if (origin === undefined || origin === 'null') return origin;
  try {
    const url = new URL(origin);
    return url.host.toLowerCase() === (request.headers.host ?? '').toLowerCase() ? undefined : origin;
  } catch {
    return origin;
  }
}

/** POSTs change state (run the GPU, stop the operator's job): none from a foreign page. */
export function checkCrossSitePost(corsOrigin: string | undefined, request: FastifyRequest): void {
  if (request.method !== 'POST') return;
  const origin = crossSiteOrigin(request);
  if (origin === undefined || corsOrigin === '*' || (corsOrigin !== undefined && origin === corsOrigin)) return;
  throw new HttpError(403, `cross-site POST from ${logValue(origin, 64)} refused; start the server with --cors-origin to allow a page on another origin`);
}
