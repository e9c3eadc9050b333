// Issue 15, item 9: toPNG filtered all rows of a 512x512 image in one go on the main thread
// (30-87 ms). It now gives the event loop a turn every PNG_ROWS_PER_TURN rows. Counted here in
// turns, not milliseconds: zlib's deflate is replaced by its synchronous twin, so the only
// turns the loop can get during encodePng are the encoder's own.
import { inflateSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:zlib', async (importOriginal) => {
  const zlib = await importOriginal<typeof import('node:zlib')>();
  const deflate = (data: Uint8Array, options: import('node:zlib').ZlibOptions, callback: (err: Error | null, out: Buffer) => void): void => {
    const out = zlib.deflateSync(data, options);
    queueMicrotask(() => callback(null, out));
  };
  return { ...zlib, deflate, default: { ...zlib, deflate } };
});

const { encodePng, PNG_ROWS_PER_TURN } = await import('../lib/image/png.js');

/** Decodes the IDAT of an 8-bit RGBA PNG written by encodePng (one IDAT chunk). */
function decodeRgba(png: Buffer, width: number, height: number): Uint8Array {
  let at = 8;
  let idat: Buffer | undefined;
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat = png.subarray(at + 8, at + 8 + length);
    at += 12 + length;
  }
  const raw = inflateSync(idat!);
  const stride = width * 4;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i]!;
      const left = i >= 4 ? out[y * stride + i - 4]! : 0;
      const up = y > 0 ? out[(y - 1) * stride + i]! : 0;
      const upLeft = y > 0 && i >= 4 ? out[(y - 1) * stride + i - 4]! : 0;
      let pred = 0;
      if (type === 1) pred = left;
      else if (type === 2) pred = up;
      else if (type === 3) pred = (left + up) >> 1;
      else if (type === 4) {
        const p = left + up - upLeft;
        const pa = Math.abs(p - left);
        const pb = Math.abs(p - up);
        const pc = Math.abs(p - upLeft);
        pred = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      out[y * stride + i] = (v + pred) & 0xff;
    }
  }
  return out;
}

describe('PNG encoding (issue 15, item 9)', () => {
  it('gives the event loop a turn every PNG_ROWS_PER_TURN rows while it filters a 512x512 image', async () => {
    const width = 512;
    const height = 512;
    const rgba = Uint8Array.from({ length: width * height * 4 }, (_, i) => (i * 7 + (i >> 11) * 13) & 0xff);
    let turns = 0;
    let running = true;
    const tick = (): void => {
      if (!running) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const png = await encodePng(rgba, width, height, { parameters: 'x' });
    running = false;
    // One turn before each slice after the first (slices of 64 rows or fewer); a single
    // synchronous pass gives none.
    expect(turns).toBeGreaterThanOrEqual(512 / 64 - 1);
    expect(PNG_ROWS_PER_TURN).toBeLessThanOrEqual(64);
    // Slicing changed nothing: the rows decode back to the image, across slice boundaries too.
    expect(Buffer.from(decodeRgba(png, width, height)).equals(Buffer.from(rgba))).toBe(true);
  });
});
