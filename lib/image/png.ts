/**
 * A small PNG encoder for 8-bit RGBA images, with text chunks. Nothing heavy runs on the
 * JavaScript thread: rows are filtered with the per-row heuristic libpng uses (smallest sum
 * of absolute differences) by the addon on libuv's thread pool, then deflated there by
 * node:zlib; the chunk CRCs are the addon's C loop (~1 ms for a 512x512 image's IDAT).
 * Filtering in JavaScript held the event loop 30-90 ms per image, or, cut into 32-row
 * slices, up to 50 ms per slice before V8 had optimised the loop.
 */
import { deflate } from 'node:zlib';
import { promisify } from 'node:util';
import { nativeBinding } from '../tvm/native.js';

const deflateAsync = promisify(deflate);

/** The CRC-32 of PNG chunks (ISO-HDLC), unsigned. */
export function crc32(bytes: Uint8Array): number {
  return nativeBinding().crc32(bytes);
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

/** PNG's Paeth predictor (filter type 4), as the addon's filter uses it; the test decoder uses it too. */
export function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export async function encodePng(rgba: Uint8Array, width: number, height: number, text: Record<string, string> = {}): Promise<Buffer> {
  if (rgba.length !== width * height * 4) throw new RangeError(`encodePng: ${rgba.length} bytes is not ${width}x${height} RGBA`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type RGBA
  const idat = await deflateAsync(await nativeBinding().pngFilterRows(rgba, width, height), { level: 6 });
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
