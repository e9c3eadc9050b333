/**
 * The page at `/`: plain HTML, CSS and JS from lib/server/page (shipped as they are, no
 * build step, nothing from a CDN: the board may be offline), using the same API as any client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../tvm/native.js';

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/page/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
} as const;

export function pageDirectory(): string {
  return join(packageRoot(), 'lib', 'server', 'page');
}

export function registerPage(app: FastifyInstance): void {
  const dir = pageDirectory();
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const content = readFileSync(join(dir, file));
    app.get(url, async (_request, reply) => reply.header('content-type', type).header('cache-control', 'no-cache').send(content));
  }
}
