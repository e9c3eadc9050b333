/**
 * A small PNG encoder for 8-bit RGBA images, with text chunks. Rows are filtered with the
 * per-row heuristic libpng uses (smallest sum of absolute differences), in slices between
 * turns of the event loop, then deflated on libuv's thread pool.
 */
import { deflate } from 'node:zlib';
import { promisify } from 'node:util';

const deflateAsync = promisify(deflate);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of PNG chunks (ISO-HDLC), unsigned. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const isLatin1 = (text: string): boolean => /^[\x00-\xff]*$/.test(text);

/** tEXt when the text is Latin-1 (as PNG requires), iTXt (UTF-8) otherwise, as PIL writes them. */
function textChunk(keyword: string, text: string): Buffer {
  if (isLatin1(text)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  return chunk(
    'iTXt',
    Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]),
  );
}

/** PNG's Paeth predictor (filter type 4); the test decoder uses it too. */
export function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Rows filtered between two turns of the event loop: filtering a 512x512 image at once took
 * 30-87 ms of the main thread; 32 rows (a 16th of it) stay within a few milliseconds.
 */
export const PNG_ROWS_PER_TURN = 32;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function filterRows(rgba: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const stride = width * 4;
  const out = new Uint8Array((stride + 1) * height);
  const candidate = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    if (y > 0 && y % PNG_ROWS_PER_TURN === 0) await nextTurn();
    const row = rgba.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rgba.subarray((y - 1) * stride, y * stride) : undefined;
    let bestType = 0;
    let bestScore = Number.POSITIVE_INFINITY;
    let best = row;
    for (let type = 0; type < 5; type++) {
      const target = type === 0 ? row : candidate;
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const left = i >= 4 ? row[i - 4]! : 0;
        const up = prev ? prev[i]! : 0;
        const upLeft = prev && i >= 4 ? prev[i - 4]! : 0;
        let v = row[i]!;
        if (type === 1) v = (v - left) & 0xff;
        else if (type === 2) v = (v - up) & 0xff;
        else if (type === 3) v = (v - ((left + up) >> 1)) & 0xff;
        else if (type === 4) v = (v - paeth(left, up, upLeft)) & 0xff;
        if (type !== 0) target[i] = v;
        score += v < 128 ? v : 256 - v;
      }
      if (score < bestScore) {
        bestScore = score;
        bestType = type;
        best = type === 0 ? row : candidate.slice();
      }
    }
    out[y * (stride + 1)] = bestType;
    out.set(best, y * (stride + 1) + 1);
  }
  return out;
}

export async function encodePng(rgba: Uint8Array, width: number, height: number, text: Record<string, string> = {}): Promise<Buffer> {
  if (rgba.length !== width * height * 4) throw new RangeError(`encodePng: ${rgba.length} bytes is not ${width}x${height} RGBA`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type RGBA
  const idat = await deflateAsync(await filterRows(rgba, width, height), { level: 6 });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    ...Object.entries(text).map(([k, v]) => textChunk(k, v)),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** The text chunks of a PNG (tEXt and iTXt), for reading back what was written. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  let at = 8;
  while (at + 12 <= buf.length) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const zero = data.indexOf(0);
      const key = data.toString('latin1', 0, zero);
      if (type === 'tEXt') {
        out[key] = data.toString('latin1', zero + 1);
      } else {
        // keyword\0 compression-flag compression-method language\0 translated\0 text
        let p = zero + 3;
        p = data.indexOf(0, p) + 1;
        p = data.indexOf(0, p) + 1;
        out[key] = data.toString('utf8', p);
      }
    }
    at += 12 + length;
  }
  return out;
}
