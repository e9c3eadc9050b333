/**
 * The CLIP BPE every SD 1.x checkpoint uses, shipped with the package: the TVM build writes
 * no tokenizer/ folder, so without this a user must hunt one down before the first image.
 * Only the merges are stored (gzipped, ~200 KB); the vocabulary is derived from them the
 * way OpenAI's CLIP builds it (simple_tokenizer.py): the 256 byte symbols, the same with
 * '</w>', one token per merge, then '<|startoftext|>' and '<|endoftext|>'.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { TokenizerError } from '../errors.js';
import { forEachPaced, Pacer } from '../event-loop-pacer.js';
import { BYTE_TO_UNICODE } from './byte-level.js';
import { ClipTokenizer } from './clip-tokenizer.js';

const MERGES_FILE = 'assets/clip-merges.txt.gz';
/** CLIP's vocabulary size: 256 bytes, 256 bytes with '</w>', 48,894 merges, 2 specials. */
export const CLIP_VOCAB_SIZE = 49408;
const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';

/**
 * The bundled merges file. The module sits at lib/tokenizer (sources, under vitest) or
 * dist/lib/tokenizer (the package), so walk up to the folder that holds assets/.
 */
export function bundledMergesPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, MERGES_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new TokenizerError(`the bundled CLIP merges (${MERGES_FILE}) are missing from the sd-mali package: reinstall it`);
}

/** The byte symbols in CLIP's order: printable bytes first, then the remapped ones. */
function byteSymbolsInClipOrder(): string[] {
  return [...BYTE_TO_UNICODE].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

/**
 * Merges, one "a b" pair a line, into pairs; refuses anything that is not two symbols.
 * In slices of the event loop (49k lines: ~40 ms at once on a slow core).
 */
export async function parseMergeLines(text: string, file: string, pacer: Pacer = new Pacer()): Promise<Array<[string, string]>> {
  const merges: Array<[string, string]> = [];
  const lines = text.split('\n');
  const parseLine = (i: number): void => {
    const line = lines[i]!;
    if (line === '' || line.startsWith('#version')) return;
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
      throw new TokenizerError(`${file}: line ${i + 1} is not a merge ("a b"): ${JSON.stringify(line.slice(0, 40))}`);
    }
    merges.push([line.slice(0, space), line.slice(space + 1)]);
  };
  await forEachPaced(lines.length, parseLine, pacer);
  return merges;
}

/** CLIP's vocabulary from its merges (simple_tokenizer.SimpleTokenizer.__init__), in slices of the event loop. */
export async function clipVocabularyFromMerges(merges: ReadonlyArray<readonly [string, string]>, pacer: Pacer = new Pacer()): Promise<Map<string, number>> {
  const vocab = new Map<string, number>();
  const add = (token: string): void => {
    // A duplicate would shift every later id: the merges are not CLIP's.
    if (vocab.has(token)) throw new TokenizerError(`the merges list makes '${token}' twice: not a CLIP BPE merges list`);
    vocab.set(token, vocab.size);
  };
  const bytes = byteSymbolsInClipOrder();
  for (const b of bytes) add(b);
  for (const b of bytes) add(`${b}</w>`);
  await forEachPaced(merges.length, (i) => add(merges[i]![0] + merges[i]![1]), pacer);
  add(BOS);
  add(EOS);
  return vocab;
}

let cached: Promise<ClipTokenizer> | undefined;

/** The bundled SD 1.x tokenizer (read and built once per process). */
export function bundledClipTokenizer(): Promise<ClipTokenizer> {
  cached ??= (async () => {
    const file = bundledMergesPath();
    // gunzip runs on libuv's pool; the rest (~100 ms of the JavaScript thread at once on a
    // slow core, garbage collection included) in slices of the event loop.
    const text = (await promisify(gunzip)(await readFile(file))).toString('utf8');
    const pacer = new Pacer();
    const merges = await parseMergeLines(text, file, pacer);
    const vocab = await clipVocabularyFromMerges(merges, pacer);
    if (vocab.size !== CLIP_VOCAB_SIZE) throw new TokenizerError(`${file} gives ${vocab.size} tokens, CLIP has ${CLIP_VOCAB_SIZE}`);
    return ClipTokenizer.create({ vocab, merges, bosToken: BOS, eosToken: EOS, padToken: EOS }, pacer);
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
