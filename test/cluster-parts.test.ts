// The cluster's parts that need no Redis: the job data check (the queue is input like any
// other), Redis URLs and their redaction, queue names.
import { describe, expect, it } from 'vitest';
import { checkRedisUrl, modelNameOf, parseJobData, queueNameOf, redactRedisUrl } from '../lib/cluster/index.js';
import { InvalidArgumentError } from '../lib/errors.js';
import { SCHEDULER_NAMES } from '../lib/schedulers/index.js';

const good = { request: { prompt: 'a fox', negativePrompt: '', steps: 20, scheduler: 'euler-a' }, seeds: ['42', '18446744073709551615'], infotexts: ['a fox\nSteps: 20, Seed: 42', 'a fox\nSteps: 20, Seed: 18446744073709551615'] };

describe('cluster job data', () => {
  it('accepts a request with a seed list, 64-bit seeds as decimal strings, and one infotext per seed', () => {
    expect(parseJobData(good)).toEqual(good);
    expect(parseJobData({ ...good, request: { ...good.request, guidanceScale: 7 } }).request.guidanceScale).toBe(7);
    expect(parseJobData({ ...good, request: { ...good.request, scheduler: 'dpm++2m', sigmaSchedule: 'karras' } }).request.sigmaSchedule).toBe('karras');
    // Fields the GPU process does not know do not travel on to it.
    expect(parseJobData({ ...good, request: { ...good.request, extra: 'x'.repeat(10) } }).request).toEqual(good.request);
  });

  it.each([
    [null, 'invalid job data: not an object'],
    [{ seeds: ['1'] }, 'invalid job data: no request'],
    [{ ...good, request: { ...good.request, prompt: 5 } }, 'invalid job data: request.prompt is not a string'],
    [{ ...good, request: { ...good.request, negativePrompt: null } }, 'invalid job data: request.negativePrompt is not a string'],
    [{ ...good, request: { ...good.request, steps: 0 } }, 'invalid job data: request.steps is not an integer >= 1'],
    [{ ...good, request: { ...good.request, steps: 2.5 } }, 'invalid job data: request.steps is not an integer >= 1'],
    [{ ...good, request: { ...good.request, scheduler: 'restart' } }, `invalid job data: request.scheduler is not one of ${SCHEDULER_NAMES.join(', ')}`],
    [{ ...good, request: { ...good.request, guidanceScale: 'high' } }, 'invalid job data: request.guidanceScale is not a finite number'],
    [{ ...good, request: { ...good.request, sigmaSchedule: 'polyexponential' } }, 'invalid job data: request.sigmaSchedule is not a schedule type'],
    [{ ...good, seeds: [] }, 'invalid job data: seeds is not a list of 1 to 64 seeds'],
    [{ ...good, seeds: [42] }, 'invalid job data: seed 42 is not a decimal uint64'],
    [{ ...good, seeds: ['-1'] }, 'invalid job data: seed "-1" is not a decimal uint64'],
    [{ ...good, seeds: ['18446744073709551616'] }, 'invalid job data: seed "18446744073709551616" is not a decimal uint64'],
    [{ ...good, infotexts: undefined }, 'invalid job data: infotexts is not a list with one infotext per seed'],
    [{ ...good, infotexts: ['only one'] }, 'invalid job data: infotexts is not a list with one infotext per seed'],
    [{ ...good, infotexts: ['a', 7] }, 'invalid job data: an infotext is not a string of at most 262144 characters'],
  ])('refuses %j with a typed error', (data, message) => {
    expect(() => parseJobData(data)).toThrow(InvalidArgumentError);
    expect(() => parseJobData(data)).toThrow(message);
  });
});

describe('Redis URLs', () => {
  it('takes redis:// and rediss:// with credentials, and hides the password when shown', () => {
    expect(checkRedisUrl('redis://10.0.0.2:6379').hostname).toBe('10.0.0.2');
    expect(checkRedisUrl('rediss://sd:secret@redis.lan:6380/2').username).toBe('sd');
    expect(redactRedisUrl('rediss://sd:secret@redis.lan:6380/2')).toBe('rediss://sd:***@redis.lan:6380/2');
    expect(redactRedisUrl('redis://:secret@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('refuses anything else with an error that says what to write, without the password', () => {
    expect(() => checkRedisUrl('http://u:pw@host:6379')).toThrow("'http://u:***@host:6379/' is not a Redis URL (http: given): write redis://[user:password@]host[:port][/db] or rediss://… for TLS");
    expect(() => checkRedisUrl('127.0.0.1:6379')).toThrow(InvalidArgumentError);
    expect(() => checkRedisUrl('not a url')).toThrow("'not a url' is not a Redis URL");
  });
});

describe('queue names', () => {
  it("are the model directory's name, with what BullMQ refuses replaced", () => {
    expect(modelNameOf('/models/anything-v5/')).toBe('anything-v5');
    expect(queueNameOf('anything-v5')).toBe('txt2img.anything-v5');
    expect(queueNameOf('sd 1.5:fp16')).toBe('txt2img.sd_1.5_fp16');
  });
});
