/**
 * The event-loop stall of `sd-mali serve` while the largest body each route allows is read,
 * parsed and answered (issue 21), beside an idle baseline of the same length: what every
 * other client waits while one sends the worst body the server accepts. The server runs in
 * this process; the bodies are built before each window, so the window holds the server's
 * work (and the client's socket writes) only.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodePng } from '../lib/image/index.js';
import { createServer } from '../lib/server/index.js';
import { BODY_LIMITS, MAX_JSON_DEPTH } from '../lib/server/body-limits.js';
import { DEFAULT_LIMITS } from '../lib/server/options.js';

export interface BodyStallRow {
  route: string;
  body: string;
  bytes: number;
  status: number;
  /** Longest event-loop stall during the request, ms (max of 5 runs). */
  stallMs: number;
  /** The same over an idle window as long as the request took. */
  idleStallMs: number;
}

/** JSON of exactly `bytes` bytes: `fields`, padded by a string nested MAX_JSON_DEPTH - 1 deep. */
function jsonOf(bytes: number, fields: Record<string, unknown>): string {
  const head = JSON.stringify(fields).slice(0, -1);
  const open = `${head === '{' ? '' : ','}"pad":${'['.repeat(MAX_JSON_DEPTH - 1)}"`;
  const close = `"${']'.repeat(MAX_JSON_DEPTH - 1)}}`;
  return `${head}${open}${'x'.repeat(bytes - head.length - open.length - close.length)}${close}`;
}

async function pngInfoBody(bytes: number): Promise<string> {
  // An infotext whose last line is 1 MB of spaces (the regex's worst case), then tiny text
  // chunks up to the limit (each one a chunk the reader must walk past).
  const png = await encodePng(new Uint8Array(4), 1, 1, { parameters: `p\n${' '.repeat(1_000_000)}Steps: 1` });
  const chunk = Buffer.from([0, 0, 0, 1, 0x61, 0x62, 0x43, 0x64, 0x6b, 0, 0, 0, 0]);
  const wrapper = '{"image":""}'.length;
  const room = Math.floor(((bytes - wrapper) * 3) / 4) - png.length;
  const filled = Buffer.concat([png.subarray(0, 33), ...Array<Buffer>(Math.floor(room / chunk.length)).fill(chunk), png.subarray(33)]);
  return JSON.stringify({ image: filled.toString('base64') });
}

export async function benchBodyStalls(modelDir: string, runtimePath: string, tokenizer: string): Promise<BodyStallRow[]> {
  const server = createServer({ model: modelDir, runtime: runtimePath, tokenizer, device: 'cpu', port: 0, log: () => undefined });
  const url = await server.listen();
  const cases: { route: string; body: string; method: string; payload: string }[] = [
    { route: '/sdapi/v1/txt2img', body: `${BODY_LIMITS.txt2img >> 10} KiB, nested ${MAX_JSON_DEPTH}, refused size (422)`, method: 'POST', payload: jsonOf(BODY_LIMITS.txt2img, { prompt: 'p'.repeat(DEFAULT_LIMITS.maxPromptLength), width: 768 }) },
    { route: '/sdapi/v1/options', body: `${BODY_LIMITS.options >> 10} KiB of unknown keys`, method: 'POST', payload: jsonOf(BODY_LIMITS.options, Object.fromEntries(Array.from({ length: 500 }, (_, k) => [`junk_${k}`, 'x'.repeat(64)]))) },
    { route: '/sdapi/v1/interrupt', body: `${BODY_LIMITS.noBody >> 10} KiB`, method: 'POST', payload: jsonOf(BODY_LIMITS.noBody, {}) },
    { route: '/sdapi/v1/png-info', body: `${DEFAULT_LIMITS.bodyLimit >> 20} MiB: 1 MB space line + tiny chunks`, method: 'POST', payload: await pngInfoBody(DEFAULT_LIMITS.bodyLimit) },
  ];
  const rows: BodyStallRow[] = [];
  try {
    for (const c of cases) {
      let stallMs = 0;
      let idleStallMs = 0;
      let status = 0;
      for (let run = 0; run < 5; run++) {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const t = performance.now();
        const r = await fetch(`${url}${c.route}`, { method: c.method, headers: { 'content-type': 'application/json' }, body: c.payload });
        await r.arrayBuffer();
        const took = performance.now() - t;
        h.disable();
        status = r.status;
        stallMs = Math.max(stallMs, h.max / 1e6);
        const idle = monitorEventLoopDelay({ resolution: 1 });
        idle.enable();
        await new Promise((resolve) => setTimeout(resolve, Math.max(20, took)));
        idle.disable();
        idleStallMs = Math.max(idleStallMs, idle.max / 1e6);
      }
      rows.push({ route: c.route, body: c.body, bytes: Buffer.byteLength(c.payload), status, stallMs, idleStallMs });
    }
  } finally {
    await server.close();
  }
  return rows;
}

export function printBodyStalls(rows: BodyStallRow[]): void {
  console.log('\nsd-mali serve: event-loop stall while the largest allowed body of each route is handled (max of 5), beside idle');
  console.log(`${'route'.padEnd(22)} ${'body'.padEnd(44)} ${'bytes'.padStart(9)} ${'status'.padStart(6)} ${'stall ms'.padStart(9)} ${'idle ms'.padStart(8)}`);
  for (const r of rows) {
    console.log(`${r.route.padEnd(22)} ${r.body.padEnd(44)} ${String(r.bytes).padStart(9)} ${String(r.status).padStart(6)} ${r.stallMs.toFixed(1).padStart(9)} ${r.idleStallMs.toFixed(1).padStart(8)}`);
  }
}
