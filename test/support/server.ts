/** Starts the real sd-mali server on a free loopback port with the stand-in model, and speaks HTTP to it. */
import { createServer, type SdMaliServer, type ServerOptions } from '../../lib/server/index.js';
import { sharedData, standinSuite } from './shared-data.js';

const suite = standinSuite(sharedData('fixtures/standin-tvm0.20', 'the stand-in model'));
export const serverRuntime = suite.runtime;
export const serverStandin = suite.standin;
export const serverTokenizer = suite.tokenizer;
export const serverReady = suite.ready;

export interface RunningServer {
  server: SdMaliServer;
  url: string;
  /** Lines the server logged. */
  logs: string[];
}

export async function startServer(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const logs: string[] = [];
  const server = createServer({
    model: serverStandin.path,
    tokenizer: serverTokenizer.path,
    runtime: serverRuntime.path,
    device: 'cpu',
    port: 0,
    log: (line) => logs.push(line),
    ...options,
  });
  const url = await server.listen();
  return { server, url, logs };
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}

export async function getJson<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}

export interface Txt2ImgResponse {
  images: string[];
  parameters: Record<string, unknown>;
  info: string;
}

export interface ProgressBody {
  progress: number;
  eta_relative: number;
  state: { job_count: number; job_no: number; sampling_step: number; sampling_steps: number; interrupted: boolean; skipped: boolean };
  current_image: string | null;
}

/** Polls /progress until `until` holds (or throws after `timeoutMs`). */
export async function waitForProgress(url: string, until: (p: ProgressBody) => boolean, timeoutMs = 30_000): Promise<ProgressBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await getJson<ProgressBody>(`${url}/sdapi/v1/progress`);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`progress never reached the expected state; last: ${JSON.stringify({ ...body, current_image: body.current_image ? '…' : null })}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** PNG width and height from its IHDR chunk. */
export function pngSize(png: Buffer): [number, number] {
  if (png.subarray(12, 16).toString('latin1') !== 'IHDR') throw new Error('not a PNG');
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}
