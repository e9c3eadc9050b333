/**
 * vocab.json (a flat JSON object: token -> id) read in slices of the event loop. JSON.parse
 * cannot be cut: on CLIP's 1 MB, 49,408-entry file it holds the JavaScript thread for
 * ~30 ms, and building the Map from it for another ~15. This scanner accepts exactly the
 * JSON of a flat object whose values are integers, reads one entry at a time and yields
 * between slices; each key is decoded by JSON.parse itself when it has escapes, so strings
 * mean what JSON says they mean.
 */
import { TokenizerError } from '../errors.js';
import type { Pacer } from '../event-loop-pacer.js';

// JSON's whitespace, a key (a JSON string: no raw control characters, escapes as JSON
// allows them), a colon, an integer, then a comma or the closing brace.
const ENTRY = /[ \t\n\r]*("(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")[ \t\n\r]*:[ \t\n\r]*(-?(?:0|[1-9][0-9]*))[ \t\n\r]*([,}])/y;
const OPEN = /^\uFEFF?[ \t\n\r]*\{[ \t\n\r]*/;
const TRAILING = /^[ \t\n\r]*$/;
const ENTRIES_PER_CLOCK_CHECK = 256;

function notAVocab(file: string, text: string, at: number): never {
  const near = JSON.stringify(text.slice(at, at + 30));
  throw new TokenizerError(`${file} is not a token -> id JSON object (at character ${at}: ${near})`);
}

export async function parseVocabJson(file: string, text: string, pacer: Pacer): Promise<Map<string, number>> {
  const vocab = new Map<string, number>();
  const open = OPEN.exec(text);
  if (!open) notAVocab(file, text, 0);
  let at = open[0].length;
  if (text[at] === '}') {
    if (!TRAILING.test(text.slice(at + 1))) notAVocab(file, text, at + 1);
    return vocab;
  }
  for (let n = 1; ; n++) {
    ENTRY.lastIndex = at;
    const m = ENTRY.exec(text);
    if (!m) notAVocab(file, text, at);
    const literal = m[1]!;
    const key = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
    const id = Number(m[2]);
    if (!Number.isSafeInteger(id)) notAVocab(file, text, at);
    // A repeated key keeps its last value, as JSON.parse does.
    vocab.set(key, id);
    at = ENTRY.lastIndex;
    if (m[3] === '}') break;
    if (n % ENTRIES_PER_CLOCK_CHECK === 0 && pacer.due()) await pacer.yield();
  }
  if (!TRAILING.test(text.slice(at))) notAVocab(file, text, at);
  return vocab;
}
