/** HTTP basic auth as A1111's --api-auth "user:pass[,user2:pass2]" does it. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { HttpError } from './http-errors.js';

export type Credentials = ReadonlyMap<string, string>;

export function parseApiAuth(spec: string): Credentials {
  const out = new Map<string, string>();
  for (const pair of spec.split(',')) {
    const colon = pair.indexOf(':');
    if (colon <= 0 || colon === pair.length - 1) throw new InvalidArgumentError(`--api-auth takes user:password[,user2:password2], got an entry without both ('${pair.slice(0, 32)}')`);
    out.set(pair.slice(0, colon).trim(), pair.slice(colon + 1));
  }
  return out;
}

// Hash first so the comparison takes the same time whatever the lengths.
const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Throws a 401 unless `authorization` carries credentials in `credentials`. */
export function checkBasicAuth(credentials: Credentials, authorization: string | undefined): void {
  const challenge = { 'www-authenticate': 'Basic' };
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) throw new HttpError(401, 'Not authenticated', challenge);
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const expected = credentials.get(user);
  const ok = expected !== undefined && timingSafeEqual(digest(expected), digest(password));
  if (!ok) throw new HttpError(401, 'Incorrect username or password', challenge);
}
