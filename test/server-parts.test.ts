// The server's parts that need no model: sampler names, the latent preview, the queue,
// basic auth and the infotext parser.
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidArgumentError } from '../lib/errors.js';
import { checkBasicAuth, parseApiAuth } from '../lib/server/auth.js';
import { HttpError } from '../lib/server/http-errors.js';
import { parseInfotext } from '../lib/server/infotext.js';
import { latentPreview } from '../lib/server/preview.js';
import { GenerationQueue } from '../lib/server/queue.js';
import { chooseSampler } from '../lib/server/samplers.js';

describe('A1111 sampler names', () => {
  it('maps each name, alias and schedule type to a scheduler', () => {
    const pick = (name: string | undefined, type?: string) => {
      const c = chooseSampler(name, type);
      return c.ok ? c.scheduler : c.message;
    };
    expect(pick('Euler a')).toBe('euler-a');
    expect(pick('euler A')).toBe('euler-a');
    expect(pick('k_euler_ancestral')).toBe('euler-a');
    expect(pick('Euler')).toBe('euler');
    expect(pick(undefined)).toBe('euler'); // A1111's sampler_index default
    expect(pick('LMS')).toBe('lms');
    expect(pick('DPM++ 2M')).toBe('dpm++2m');
    expect(pick('DPM++ 2M', 'Karras')).toBe('dpm++2m-karras');
    expect(pick('DPM++ 2M', 'karras')).toBe('dpm++2m-karras');
    expect(pick('DPM++ 2M Karras')).toBe('dpm++2m-karras');
    expect(pick('DPM++ 2M Karras', 'Automatic')).toBe('dpm++2m-karras');
    expect(pick('DDIM')).toBe('ddim');
    expect(pick('PLMS')).toBe('pndm');
    expect(pick('Heun')).toMatch(/^Sampler not found: 'Heun'/);
    expect(pick('Euler', 'Karras')).toMatch(/Karras' is available with DPM\+\+ 2M only/);
    expect(pick('Euler', 'Exponential')).toMatch(/^Scheduler not found: 'Exponential'/);
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
});

describe('infotext parsing (png-info)', () => {
  it('splits prompt, negative prompt and the key: value line', () => {
    expect(parseInfotext('a fox\nin a forest\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7.5, Seed: 42, Size: 512x512')).toEqual({
      Prompt: 'a fox\nin a forest',
      'Negative prompt': 'blurry',
      Steps: '20',
      Sampler: 'DPM++ 2M',
      'CFG scale': '7.5',
      Seed: '42',
      Size: '512x512',
    });
    expect(parseInfotext('just a prompt')).toEqual({ Prompt: 'just a prompt' });
  });
});
