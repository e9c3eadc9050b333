/** HTTP basic auth as A1111's --api-auth "user:pass[,user2:pass2]" does it. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { HttpError } from './http-errors.js';

export type Credentials = ReadonlyMap<string, string>;

export function parseApiAuth(spec: string): Credentials {
  const out = new Map<string, string>();
  const entries = spec.split(',');
  entries.forEach((pair, k) => {
    const colon = pair.indexOf(':');
    const user = colon < 0 ? '' : pair.slice(0, colon).trim();
    // The message names the entry by its place, never by its text: it may hold a password.
    const which = entries.length > 1 ? `entry ${k + 1} of ${entries.length}` : 'the value';
    if (colon < 0 || colon === pair.length - 1) throw new InvalidArgumentError(`--api-auth takes user:password[,user2:password2]; ${which} lacks a user or a password`);
    if (user.length === 0) throw new InvalidArgumentError(`--api-auth takes user:password[,user2:password2]; ${which} has an empty user name`);
    out.set(user, pair.slice(colon + 1));
  });
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
