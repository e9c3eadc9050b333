/**
 * npm run bench: measures the host numerics and, where the stand-in model and a TVM runtime
 * are found (as for the tests), the whole pipeline. Prints tables and writes
 * bench/results/latest.json.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNumerics } from './numerics.js';
import { printTable } from './measure.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), dirname(fileURLToPath(import.meta.url)).includes('/dist/') ? '../..' : '..');
const shared = resolve(process.env['SD_MALI_TEST_DATA'] ?? join(root, '..', 'shared'));
const tokenizerDir = existsSync(join(shared, 'clip-tokenizer')) ? join(shared, 'clip-tokenizer') : undefined;

const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}` };
const numerics = await benchNumerics(tokenizerDir);
printTable('Host numerics', numerics);
results['numerics'] = numerics;

const out = join(root, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${join(out, 'latest.json')}`);
