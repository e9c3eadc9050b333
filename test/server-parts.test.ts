// The server's parts that need no model: A1111's sampler and schedule names, the latent
// preview, the queue, basic auth, A1111's infotext (written and read), the image text
// reader, the settings, the JSON guards and the log quoting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../lib/image/index.js';
import { AbortError, InvalidArgumentError } from '../lib/errors.js';
import { checkBasicAuth, parseApiAuth } from '../lib/server/auth.js';
import { stringifyExact } from '../lib/server/exact-json.js';
import { HttpError } from '../lib/server/http-errors.js';
import { allowedHostNames, hostName, jsonDepth } from '../lib/server/http-guards.js';
import { MAX_TEXT_CHUNKS, readImageInfo } from '../lib/server/image-info.js';
import { createInfotext, parseInfotext, readPairs } from '../lib/server/infotext.js';
import { logValue } from '../lib/server/log-value.js';
import { latentPreview } from '../lib/server/preview.js';
import { GenerationQueue } from '../lib/server/queue.js';
import { chooseSampler, SAMPLERS } from '../lib/server/samplers.js';
import { checkSettings } from '../lib/server/settings.js';
import { REPO_ROOT } from './support/shared-data.js';

describe('A1111 sampler names and schedule types', () => {
  const pick = (name: string | undefined, type?: string | null) => {
    const c = chooseSampler(name, type);
    return [c.sampler, c.scheduler, c.sigmaSchedule ?? 'own', c.scheduleType].join(' | ');
  };

  it('maps names, aliases and schedule types as A1111 1.10 resolves them', () => {
    expect(pick('Euler a')).toBe('Euler a | euler-a | own | Automatic');
    expect(pick('euler A')).toBe('Euler a | euler-a | own | Automatic');
    expect(pick('k_euler_ancestral')).toBe('Euler a | euler-a | own | Automatic');
    expect(pick(undefined)).toBe('Euler | euler | own | Automatic'); // A1111's sampler_index default
    expect(pick('PLMS')).toBe('PLMS | pndm | own | Automatic');
    // Automatic is the sampler's own default schedule (A1111's options.scheduler).
    expect(pick('DPM++ 2M')).toBe('DPM++ 2M | dpm++2m | karras | Karras');
    expect(pick('DPM++ 2M', 'Automatic')).toBe('DPM++ 2M | dpm++2m | karras | Karras');
    expect(pick('Euler', 'Karras')).toBe('Euler | euler | karras | Karras');
    expect(pick('Euler', 'exponential')).toBe('Euler | euler | exponential | Exponential');
    expect(pick('LMS', 'beta')).toBe('LMS | lms | beta | Beta');
  });

  it('splits legacy names, and an explicit scheduler field wins over the suffix', () => {
    expect(pick('LMS Karras')).toBe('LMS | lms | karras | Karras');
    expect(pick('Euler Karras')).toBe('Euler | euler | karras | Karras');
    expect(pick('DPM++ 2M Karras')).toBe('DPM++ 2M | dpm++2m | karras | Karras');
    expect(pick('LMS Karras', 'Exponential')).toBe('LMS | lms | exponential | Exponential');
  });

  it("falls back as A1111 does: an unknown schedule type or one the sampler lacks to Automatic, an unknown sampler to A1111's first", () => {
    // SillyTavern's fresh-install default.
    const st = chooseSampler('DDIM', 'normal');
    expect([st.sampler, st.scheduler, st.sigmaSchedule, st.scheduleType]).toEqual(['DDIM', 'ddim', undefined, 'Automatic']);
    expect(st.corrections).toEqual(['schedule type Normal is not available with DDIM here; using Automatic']);
    expect(pick('DDIM', 'Karras')).toBe('DDIM | ddim | own | Automatic');
    expect(pick('Euler a', 'Karras')).toBe('Euler a | euler-a | own | Automatic');
    expect(pick('DPM++ 2M', 'no such thing')).toBe('DPM++ 2M | dpm++2m | karras | Karras');
    expect(chooseSampler('Euler', 'no such thing').corrections).toEqual(['schedule type "no such thing" is unknown; using Automatic']);
    const unknown = chooseSampler('DPM adaptive', null);
    expect([unknown.sampler, unknown.scheduler]).toEqual(['DPM++ 2M', 'dpm++2m']);
    expect(unknown.corrections).toEqual(['sampler "DPM adaptive" is not one this server has; using DPM++ 2M']);
  });

  it('lists only samplers whose scheduler is implemented, A1111 1.10 first', () => {
    expect(SAMPLERS[0]!.name).toBe('DPM++ 2M');
    expect(SAMPLERS.map((s) => s.name)).toEqual(expect.arrayContaining(['DPM++ 2M', 'Euler a', 'Euler', 'LMS', 'DDIM', 'PLMS']));
    expect(SAMPLERS.find((s) => s.name === 'DPM++ 2M')!.options).toEqual({ scheduler: 'karras' });
  });
});

describe("the 'Approx cheap' latent preview", () => {
  it("maps the 4 channels with A1111's coefficients, x*0.5+0.5 clamped to bytes", () => {
    const w = 4;
    const h = 1;
    const latents = new Float32Array(4 * w * h);
    const at = (channel: number, pixel: number, v: number): void => void (latents[channel * w * h + pixel] = v);
    at(0, 0, 1); // channel 0 alone: (0.298, 0.207, 0.208)
    at(3, 1, 2); // channel 3 ×2: (-0.368, -0.542, -0.946)
    at(3, 3, -10); // far positive: all clamp to 1
    const rgba = latentPreview(latents, w, h);
    // (v*0.5+0.5)*255 rounded, worked out by hand from A1111's table.
    expect([...rgba]).toEqual([165, 154, 154, 255, 81, 58, 7, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
    at(2, 2, 10); // channel 2 ×10: (-1.58, 1.89, 2.64): red clamps to 0
    expect([...latentPreview(latents, w, h).subarray(8, 12)]).toEqual([0, 255, 255, 255]);
    expect(() => latentPreview(new Float32Array(5), 4, 1)).toThrow(RangeError);
  });
});

describe('the generation queue', () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it('runs one task at a time in arrival order and refuses with 429 past its capacity', async () => {
    const q = new GenerationQueue(2);
    const order: string[] = [];
    const gate = deferred();
    const a = q.run(async () => {
      order.push('a start');
      await gate.promise;
      order.push('a end');
    });
    const b = q.run(async () => void order.push('b'));
    const c = q.run(async () => void order.push('c'));
    expect(q.busy).toBe(true);
    expect(q.waiting).toBe(2);
    const full = await q.run(async () => 'd').catch((e: unknown) => e);
    expect(full).toBeInstanceOf(HttpError);
    expect((full as HttpError).statusCode).toBe(429);
    gate.resolve();
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a start', 'a end', 'b', 'c']);
    expect(q.busy).toBe(false);
    expect(q.waiting).toBe(0);
  });

  it('drops a waiter whose signal fires, and goes on after a task that fails', async () => {
    const q = new GenerationQueue(4);
    const gate = deferred();
    const ran: string[] = [];
    const a = q.run(async () => {
      await gate.promise;
      throw new Error('a failed');
    });
    const leaving = new AbortController();
    const b = q.run(async () => void ran.push('b'), leaving.signal);
    const c = q.run(async () => void ran.push('c'));
    leaving.abort();
    await expect(b).rejects.toThrow(AbortError);
    expect(q.waiting).toBe(1);
    gate.resolve();
    await expect(a).rejects.toThrow('a failed');
    await c;
    expect(ran).toEqual(['c']);
  });
});

describe('--api-auth', () => {
  const header = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  it('parses user:pass pairs and checks basic credentials against them', () => {
    const creds = parseApiAuth('alice:a:b,bob:pw');
    expect([...creds]).toEqual([['alice', 'a:b'], ['bob', 'pw']]);
    expect(() => checkBasicAuth(creds, header('alice:a:b'))).not.toThrow();
    expect(() => checkBasicAuth(creds, header('bob:pw'))).not.toThrow();
    for (const bad of [undefined, 'Bearer x', header('bob:PW'), header('carol:pw'), header('bob')]) {
      const err = (() => {
        try {
          checkBasicAuth(creds, bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(HttpError);
      expect((err as HttpError).statusCode).toBe(401);
      expect((err as HttpError).headers).toEqual({ 'www-authenticate': 'Basic' });
    }
    expect(() => parseApiAuth('nopassword')).toThrow(InvalidArgumentError);
    expect(() => parseApiAuth('a:b,:c')).toThrow(InvalidArgumentError);
  });

  it('refuses an empty user name, and never prints the value it refuses', () => {
    expect(() => parseApiAuth(' :pw')).toThrow('--api-auth takes user:password[,user2:password2]; the value has an empty user name');
    for (const secret of ['hunter2-secret', 'me:ok,hunter2-secret', 'me:ok,  :hunter2-secret']) {
      const message = (() => {
        try {
          parseApiAuth(secret);
        } catch (e) {
          return (e as Error).message;
        }
        return '';
      })();
      expect(message).toMatch(/^--api-auth takes/);
      expect(message).not.toContain('hunter2');
    }
  });
});

describe("A1111's infotext", () => {
  it('finds the pairs A1111\'s regex finds, in linear time (fixture made by running the regex)', () => {
    const cases = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'a1111-infotext-pairs.json'), 'utf8')) as [string, [string, string][]][];
    expect(cases.length).toBeGreaterThan(600);
    for (const [line, pairs] of cases) expect(readPairs(line), JSON.stringify(line)).toEqual(pairs);
  });

  it('reads hostile lines without backtracking: a 1 MB line of spaces in one pass', () => {
    // The regex backtracks cubically here (2.8 KB held the server 2.5 s); the scan is linear,
    // so this completes within the test timeout however slow the machine (timings: npm run bench -- server).
    expect(readPairs(' '.repeat(1_000_000))).toEqual([]);
    expect(readPairs('ab:"'.repeat(100_000))).toHaveLength(1);
    expect(readPairs('ab:"x,'.repeat(100_000))).toHaveLength(100_000);
  });

  it('parses as parse_generation_parameters: Size-1/Size-2, quoted values, A1111\'s defaults', () => {
    const parsed = parseInfotext('a fox\nin a forest\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x768, Lora hashes: "a: 1, b: 2"');
    expect(parsed).toMatchObject({
      Prompt: 'a fox\nin a forest',
      'Negative prompt': 'blurry',
      Steps: '20',
      Sampler: 'DPM++ 2M',
      'Schedule type': 'Karras',
      'CFG scale': '7.5',
      Seed: '42',
      'Size-1': '512',
      'Size-2': '768',
      'Lora hashes': 'a: 1, b: 2',
      'Clip skip': '1',
      RNG: 'GPU',
    });
    expect(parsed).not.toHaveProperty('Size');
    expect(parseInfotext('just a prompt')).toMatchObject({ Prompt: 'just a prompt', 'Negative prompt': '', 'Schedule type': 'Automatic' });
  });

  it('writes as create_infotext: A1111\'s order, quoted values, nothing for undefined', () => {
    const text = createInfotext({
      prompt: 'p',
      negativePrompt: '',
      params: [
        ['Steps', 20],
        ['Sampler', 'Euler a'],
        ['Schedule type', undefined],
        ['CFG scale', 7],
        ['Seed', '18446744073709551615'],
        ['Model', 'a, b: c'],
      ],
    });
    expect(text).toBe('p\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 18446744073709551615, Model: "a, b: c"');
    expect(parseInfotext(text)).toMatchObject({ Seed: '18446744073709551615', Model: 'a, b: c' });
  });
});

/** A TIFF block with one Exif IFD holding `comment` as UserComment, as piexif.dump writes it (big-endian). */
function exifWithUserComment(comment: Buffer): Buffer {
  const ifd0 = Buffer.alloc(2 + 12 + 4);
  ifd0.writeUInt16BE(1, 0);
  ifd0.writeUInt16BE(0x8769, 2); // ExifIFD pointer
  ifd0.writeUInt16BE(4, 4);
  ifd0.writeUInt32BE(1, 6);
  ifd0.writeUInt32BE(8 + ifd0.length, 10);
  const exif = Buffer.alloc(2 + 12 + 4);
  exif.writeUInt16BE(1, 0);
  exif.writeUInt16BE(0x9286, 2); // UserComment, UNDEFINED
  exif.writeUInt16BE(7, 4);
  exif.writeUInt32BE(comment.length, 6);
  exif.writeUInt32BE(8 + ifd0.length + exif.length, 10);
  return Buffer.concat([Buffer.from('MM\0\x2a\0\0\0\x08', 'latin1'), ifd0, exif, comment]);
}

describe('image text (png-info)', () => {
  const parameters = 'a café\nSteps: 20, Sampler: Euler, Seed: 1';
  const unicodeComment = (text: string): Buffer => {
    const body = Buffer.from(text, 'utf16le');
    body.swap16(); // piexif's "unicode" is UTF-16BE
    return Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), body]);
  };

  it('reads the parameters chunk of a PNG, and its other text items', async () => {
    const png = await encodePng(new Uint8Array(4), 1, 1, { parameters, Software: 'x' });
    expect(await readImageInfo(png)).toEqual({ format: 'png', parameters, items: { Software: 'x' } });
  });

  it("reads a JPEG's and a WebP's EXIF UserComment as A1111 writes it", async () => {
    const exif = exifWithUserComment(unicodeComment(parameters));
    const app1 = Buffer.alloc(4);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(2 + 6 + exif.length, 2);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), app1, Buffer.from('Exif\0\0', 'latin1'), exif, Buffer.from([0xff, 0xd9])]);
    expect(await readImageInfo(jpeg)).toEqual({ format: 'jpeg', parameters, items: {} });
    const chunk = Buffer.alloc(8);
    chunk.write('EXIF', 0, 'latin1');
    chunk.writeUInt32LE(exif.length, 4);
    const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), chunk, exif, Buffer.alloc(exif.length & 1)]);
    const riff = Buffer.alloc(8);
    riff.write('RIFF', 0, 'latin1');
    riff.writeUInt32LE(body.length, 4);
    expect(await readImageInfo(Buffer.concat([riff, body]))).toEqual({ format: 'webp', parameters, items: {} });
    expect(await readImageInfo(Buffer.from('not an image'))).toBeUndefined();
  });

  it('reads at most MAX_TEXT_CHUNKS text chunks and skips a zTXt bomb', async () => {
    const png = await encodePng(new Uint8Array(4), 1, 1, {});
    const chunk = (type: string, data: Buffer): Buffer => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, data, Buffer.alloc(4)]);
    };
    const many = Array.from({ length: 300_000 }, (_, k) => chunk('tEXt', Buffer.from(`k${k}\0v`, 'latin1')));
    const bomb = chunk('zTXt', Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), deflateSync(Buffer.alloc(64 * 1024 * 1024))]));
    const hostile = Buffer.concat([png.subarray(0, 33), bomb, ...many, png.subarray(33)]);
    const info = (await readImageInfo(hostile))!;
    expect(info.parameters).toBeUndefined();
    expect(Object.keys(info.items)).toHaveLength(MAX_TEXT_CHUNKS - 1);
  });
});

describe('settings (POST /options)', () => {
  it('keeps known keys with scalar values of their type, ignores unknown keys, refuses the rest', () => {
    expect(checkSettings({ samples_format: 'jpg', CLIP_stop_at_last_layers: 2, sd_model_checkpoint: null, junk: { a: 1 } })).toEqual({
      accepted: { samples_format: 'jpg', CLIP_stop_at_last_layers: 2, sd_model_checkpoint: null },
      unknown: ['junk'],
    });
    for (const bad of [{ samples_format: { deep: [1] } }, { CLIP_stop_at_last_layers: '2' }, { samples_format: 'x'.repeat(2000) }, { samples_save: null }]) {
      expect(() => checkSettings(bad), JSON.stringify(bad).slice(0, 60)).toThrow(HttpError);
    }
  });
});

describe('request guards', () => {
  it('measures JSON nesting in one pass, strings skipped', () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[{{{"}]}')).toBe(3);
    expect(jsonDepth('"\\"[[[["')).toBe(0);
    expect(jsonDepth('['.repeat(100_000))).toBe(100_000);
  });

  it('answers loopback names on a loopback bind, plus --allowed-hosts; nothing checked elsewhere unless asked', () => {
    expect(hostName('LocalHost:7860')).toBe('localhost');
    expect(hostName('[::1]:7860')).toBe('[::1]');
    expect([...allowedHostNames('127.0.0.1', true, undefined)!].sort()).toEqual(['127.0.0.1', '::1', '[::1]', 'localhost']);
    expect(allowedHostNames('127.0.0.1', true, ['board.lan'])!.has('board.lan')).toBe(true);
    expect(allowedHostNames('127.0.0.1', true, ['*'])).toBeUndefined();
    expect(allowedHostNames('0.0.0.0', false, undefined)).toBeUndefined();
    expect([...allowedHostNames('0.0.0.0', false, ['board.lan'])!]).toEqual(['board.lan']);
  });

  it('quotes and cuts values in log lines', () => {
    expect(logValue('model\nsd-mali serve: forged line')).toBe('"model\\nsd-mali serve: forged line"');
    expect(logValue('\u001b[2J')).toBe('"\\u001b[2J"');
    expect(logValue('x'.repeat(1000))).toBe(`"${'x'.repeat(120)}…(1000 chars)"`);
  });

  it('writes bigints exactly in JSON, and no client string turns into one', () => {
    const text = stringifyExact({ seed: 2n ** 53n + 1n, all: [2n ** 64n - 1n], prompt: '\u0000deadbeef:5' });
    expect(text).toBe('{"seed":9007199254740993,"all":[18446744073709551615],"prompt":"\\u0000deadbeef:5"}');
  });
});
