// PNG encoding off the JavaScript thread (issue 23): the addon filters the rows on libuv's
// pool (the JavaScript filter held the event loop 30-90 ms per 512x512 image, or up to 50 ms
// per 32-row slice before V8 optimised it), node:zlib deflates there, the CRCs are C.
// The filter must choose exactly what libpng's heuristic chooses: checked against a plain
// JavaScript reference of it, byte for byte, and by decoding the PNGs back.
import { describe, expect, it } from 'vitest';
import { crc32, encodePng, paeth } from '../lib/image/png.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { decodeRgbaPng } from './support/png-decode.js';

/** libpng's heuristic, written out plainly: each row's filter with the smallest sum of |signed byte|, lowest type on ties. */
function referenceFilter(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const stride = width * 4;
  const out = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    let best: Uint8Array | undefined;
    let bestType = 0;
    let bestScore = Infinity;
    for (let type = 0; type < 5; type++) {
      const row = new Uint8Array(stride);
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const v = rgba[y * stride + i]!;
        const left = i >= 4 ? rgba[y * stride + i - 4]! : 0;
        const up = y > 0 ? rgba[(y - 1) * stride + i]! : 0;
        const upLeft = y > 0 && i >= 4 ? rgba[(y - 1) * stride + i - 4]! : 0;
        const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][type]!;
        row[i] = (v - predictor) & 0xff;
        score += row[i]! < 128 ? row[i]! : 256 - row[i]!;
      }
      if (score < bestScore) [best, bestType, bestScore] = [row, type, score];
    }
    out[y * (stride + 1)] = bestType;
    out.set(best!, y * (stride + 1) + 1);
  }
  return out;
}

/** Images whose rows favour different filters: noise, gradients, flat areas, stripes. */
function testImage(width: number, height: number, seed: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  let s = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const at = (y * width + x) * 4;
      const band = y % 4;
      rgba[at] = band === 0 ? s >>> 24 : band === 1 ? x * 3 : band === 2 ? y : 200;
      rgba[at + 1] = band === 3 ? (x + y) & 0xff : (s >>> 16) & 0xff;
      rgba[at + 2] = (x * y) & 0xff;
      rgba[at + 3] = x % 7 === 0 ? 255 : (s >>> 8) & 0xff;
    }
  }
  return rgba;
}

describe('PNG encoding', () => {
  it("filters each row as libpng's heuristic does, byte for byte", async () => {
    const { pngFilterRows } = nativeBinding();
    const types = new Set<number>();
    for (const [width, height, seed] of [[1, 1, 1], [3, 5, 2], [17, 9, 3], [64, 64, 4], [512, 64, 5]] as const) {
      const rgba = testImage(width, height, seed);
      const filtered = await pngFilterRows(rgba, width, height);
      const reference = referenceFilter(rgba, width, height);
      expect(Buffer.from(filtered).equals(Buffer.from(reference)), `${width}x${height}`).toBe(true);
      for (let y = 0; y < height; y++) types.add(reference[y * (width * 4 + 1)]!);
    }
    // The images exercise more than one filter, so a filter that always picks one type fails.
    expect(types.size).toBeGreaterThanOrEqual(3);
  });

  it('writes a 512x512 PNG that decodes back to its pixels, with its text chunk', async () => {
    const rgba = testImage(512, 512, 7);
    const png = await encodePng(rgba, 512, 512, { parameters: 'a prompt\nSteps: 20' });
    const decoded = decodeRgbaPng(png);
    expect([decoded.width, decoded.height]).toEqual([512, 512]);
    expect(Buffer.from(decoded.rgba).equals(Buffer.from(rgba))).toBe(true);
    expect(png.includes(Buffer.from('parameters\0a prompt\nSteps: 20', 'latin1'))).toBe(true);
  });

  it('encodes the pixels as they were at the call, whatever the caller does with them meanwhile', async () => {
    const rgba = testImage(256, 256, 9);
    const before = Uint8Array.from(rgba);
    const pending = encodePng(rgba, 256, 256);
    rgba.fill(0);
    expect(Buffer.from(decodeRgbaPng(await pending).rgba).equals(Buffer.from(before))).toBe(true);
  });

  it('keeps the event loop turning while it encodes', async () => {
    const rgba = testImage(512, 512, 11);
    let turns = 0;
    let running = true;
    const tick = (): void => {
      if (!running) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    await encodePng(rgba, 512, 512);
    running = false;
    // Filter and deflate run on the pool: the loop turns while they do (a synchronous
    // encoder gives no turn at all before it returns).
    expect(turns).toBeGreaterThanOrEqual(2);
  });

  it('computes PNG chunk CRCs (the CRC-32 check values)', () => {
    expect(crc32(Buffer.from('123456789', 'latin1'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('IEND', 'latin1'))).toBe(0xae426082);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('refuses pixels that do not match the size, and non-byte arrays, with typed errors', async () => {
    await expect(encodePng(new Uint8Array(10), 2, 2)).rejects.toThrow(RangeError);
    const { pngFilterRows } = nativeBinding();
    expect(() => pngFilterRows(new Uint8Array(16), 0, 4)).toThrow(RangeError);
    expect(() => pngFilterRows(new Uint8Array(16), 2.5, 4)).toThrow(RangeError);
    expect(() => pngFilterRows(new Uint16Array(8) as unknown as Uint8Array, 2, 1)).toThrow(TypeError);
    expect(() => crc32('text' as unknown as Uint8Array)).toThrow(TypeError);
  });
});
