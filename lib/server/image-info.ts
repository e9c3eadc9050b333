/**
 * The text A1111 keeps in an image, read as its images.read_info_from_image reads it: the
 * "parameters" text chunk of a PNG (tEXt, zTXt or iTXt), or the EXIF UserComment of a JPEG
 * or WebP (piexif's "UNICODE\0" + UTF-16BE, or "ASCII\0\0\0"). Bounded: a hostile file with
 * 300k text chunks or a zip bomb costs at most MAX_TEXT_CHUNKS chunks and MAX_TEXT_BYTES, a
 * text is cut at MAX_CHUNK_TEXT_BYTES, and the walk over chunks yields to the event loop.
 */
import { inflateSync } from 'node:zlib';

export const MAX_TEXT_CHUNKS = 64;
/** In total, after decompression (PIL's MAX_TEXT_CHUNK is 1 MB). */
export const MAX_TEXT_BYTES = 1024 * 1024;
/** Per chunk: A1111's infotexts are a few KB; this bounds what the infotext parser reads. */
export const MAX_CHUNK_TEXT_BYTES = 256 * 1024;
/** Chunks walked between yields to the event loop (a 8 MB file can hold 600k empty chunks). */
const CHUNKS_PER_TURN = 20_000;

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface ImageInfo {
  format: ImageFormat;
  /** The generation parameters, or undefined when the image has none. */
  parameters: string | undefined;
  /** The other text items (PNG text chunks but 'parameters'). */
  items: Record<string, string>;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function detectFormat(bytes: Buffer): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

function inflateBounded(data: Buffer, budget: number): Buffer | undefined {
  try {
    return inflateSync(data, { maxOutputLength: Math.max(1, budget) });
  } catch {
    return undefined; // corrupt, or larger than the budget: skipped, as PIL skips it
  }
}

const chunkTag = (name: string): number => Buffer.from(name, 'latin1').readUInt32BE(0);
const IEND = chunkTag('IEND');
const TEXT = chunkTag('tEXt');
const ZTXT = chunkTag('zTXt');
const ITXT = chunkTag('iTXt');

async function pngText(bytes: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let chunks = 0;
  let walked = 0;
  let budget = MAX_TEXT_BYTES;
  for (let at = 8; at + 12 <= bytes.length && chunks < MAX_TEXT_CHUNKS && budget > 0; ) {
    if (++walked % CHUNKS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const length = bytes.readUInt32BE(at);
    const tag = bytes.readUInt32BE(at + 4);
    const end = at + 8 + length;
    if (end + 4 > bytes.length || tag === IEND) break;
    at = end + 4;
    // Compared as numbers: a file of 700k tiny chunks is walked without a string per chunk.
    if (tag !== TEXT && tag !== ZTXT && tag !== ITXT) continue;
    const type = tag === TEXT ? 'tEXt' : tag === ZTXT ? 'zTXt' : 'iTXt';
    const data = bytes.subarray(end - length, end);
    chunks++;
    const zero = data.indexOf(0);
    if (zero <= 0) continue;
    const key = data.toString('latin1', 0, zero);
    const room = Math.min(budget, MAX_CHUNK_TEXT_BYTES);
    let text: string | undefined;
    if (type === 'tEXt') {
      text = data.toString('latin1', zero + 1, Math.min(data.length, zero + 1 + room));
    } else if (type === 'zTXt') {
      text = inflateBounded(data.subarray(zero + 2), room)?.toString('latin1');
    } else {
      // keyword\0 compression-flag compression-method language\0 translated-keyword\0 text
      const compressed = data[zero + 1] === 1;
      const language = data.indexOf(0, zero + 3);
      const translated = language < 0 ? -1 : data.indexOf(0, language + 1);
      if (translated < 0) continue;
      const body = data.subarray(translated + 1);
      text = compressed ? inflateBounded(body, room)?.toString('utf8') : body.toString('utf8', 0, Math.min(body.length, room));
    }
    if (text === undefined) continue;
    budget -= text.length;
    out[key] = text;
  }
  return out;
}

/** piexif.helper.UserComment.load, falling back to UTF-8 as A1111 does on its ValueError. */
function userComment(raw: Buffer): string {
  const prefix = raw.toString('latin1', 0, 8);
  const body = raw.subarray(8);
  if (prefix === 'UNICODE\0') {
    const even = body.subarray(0, body.length & ~1);
    const swapped = Buffer.from(even); // UTF-16BE → the LE that Node decodes
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  if (prefix === 'ASCII\0\0\0') return body.toString('latin1');
  return raw.toString('utf8');
}

/** The UserComment (Exif IFD tag 0x9286) of a TIFF-structured EXIF block. */
function exifUserComment(tiff: Buffer): string | undefined {
  if (tiff.length < 8) return undefined;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (at: number): number => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number): number => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const findTag = (ifd: number, tag: number): number | undefined => {
    if (ifd + 2 > tiff.length) return undefined;
    const count = u16(ifd);
    for (let k = 0; k < count; k++) {
      const entry = ifd + 2 + k * 12;
      if (entry + 12 > tiff.length) return undefined;
      if (u16(entry) === tag) return entry;
    }
    return undefined;
  };
  const pointer = findTag(u32(4), 0x8769);
  if (pointer === undefined) return undefined;
  const entry = findTag(u32(pointer + 8), 0x9286);
  if (entry === undefined) return undefined;
  const length = u32(entry + 4);
  const start = length <= 4 ? entry + 8 : u32(entry + 8);
  if (length > MAX_CHUNK_TEXT_BYTES * 2 || start + length > tiff.length) return undefined;
  const text = userComment(tiff.subarray(start, start + length));
  return text.length > 0 ? text : undefined;
}

function jpegExif(bytes: Buffer): Buffer | undefined {
  for (let at = 2; at + 4 <= bytes.length; ) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI, or the image data begins
    const length = bytes.readUInt16BE(at + 2);
    const data = bytes.subarray(at + 4, at + 2 + length);
    if (marker === 0xe1 && data.toString('latin1', 0, 6) === 'Exif\0\0') return data.subarray(6);
    at += 2 + length;
  }
  return undefined;
}

function webpExif(bytes: Buffer): Buffer | undefined {
  for (let at = 12; at + 8 <= bytes.length; ) {
    const type = bytes.toString('latin1', at, at + 4);
    const length = bytes.readUInt32LE(at + 4);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'EXIF') return data.toString('latin1', 0, 6) === 'Exif\0\0' ? data.subarray(6) : data;
    at += 8 + length + (length & 1);
  }
  return undefined;
}

/** The parameters and other text of a PNG, JPEG or WebP; undefined for anything else. */
export async function readImageInfo(bytes: Buffer): Promise<ImageInfo | undefined> {
  const format = detectFormat(bytes);
  if (!format) return undefined;
  if (format === 'png') {
    const { parameters, ...items } = await pngText(bytes);
    return { format, parameters, items };
  }
  const exif = format === 'jpeg' ? jpegExif(bytes) : webpExif(bytes);
  return { format, parameters: exif ? exifUserComment(exif) : undefined, items: {} };
}
