/**
 * A1111's infotext: the "parameters" text it writes into images ("<prompt>\nNegative prompt:
 * …\nSteps: 20, Sampler: …"), written as processing.create_infotext writes it and read as
 * infotext_utils.parse_generation_parameters reads it.
 *
 * A1111 reads the last line with the regex \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$),
 * which backtracks cubically on a line of spaces (a 100 KB png-info request would hold the
 * event loop for minutes). readPairs below finds the same pairs in one pass.
 */

/** A1111's quote(): JSON for a value holding a comma, a newline or a colon. */
export function quote(value: string): string {
  return /[,\n:]/.test(value) ? JSON.stringify(value) : value;
}

function unquote(text: string): string {
  if (text.length < 2 || text[0] !== '"' || text.at(-1) !== '"') return text;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : text;
  } catch {
    return text;
  }
}

export interface InfotextFields {
  prompt: string;
  negativePrompt: string;
  /** In A1111's order; undefined values are left out. */
  params: [string, string | number | undefined][];
}

/** processing.create_infotext's text: prompt, negative prompt, then "Key: value" pairs. */
export function createInfotext(fields: InfotextFields): string {
  const pairs = fields.params.filter(([, v]) => v !== undefined).map(([k, v]) => (k === String(v) ? k : `${k}: ${quote(String(v))}`));
  const negative = fields.negativePrompt ? `\nNegative prompt: ${fields.negativePrompt}` : '';
  return `${fields.prompt}${negative}\n${pairs.join(', ')}`.trim();
}

const isWord = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
const isKeyChar = (c: number): boolean => isWord(c) || c === 32 || c === 45 || c === 47;
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/**
 * The (key, raw value) pairs re.findall(re_param, line) returns, in linear time: the key is
 * the run of key characters before a colon (at least two, starting with a word character),
 * the value a quoted string followed by a comma or the end, else everything up to a comma.
 */
export function readPairs(line: string): [string, string][] {
  const n = line.length;
  // Tables read right to left so that every attempt below is O(1):
  // keyEnd[i]: where the run of key characters starting at i ends; nonSpace[i]: the first
  // non-space at or after i; quoteStop[i]: where a quoted string's body scanned from i stops
  // (at its closing quote, at a lone backslash, or at n).
  const keyEnd = new Int32Array(n + 2);
  const nonSpace = new Int32Array(n + 2);
  const quoteStop = new Int32Array(n + 2);
  keyEnd[n] = nonSpace[n] = quoteStop[n] = n;
  keyEnd[n + 1] = nonSpace[n + 1] = quoteStop[n + 1] = n;
  for (let i = n - 1; i >= 0; i--) {
    const c = line.charCodeAt(i);
    keyEnd[i] = isKeyChar(c) ? keyEnd[i + 1]! : i;
    nonSpace[i] = isSpace(c) ? nonSpace[i + 1]! : i;
    if (c === 92 /* \\ */ && i + 1 < n && line.charCodeAt(i + 1) !== 10) quoteStop[i] = quoteStop[i + 2]!;
    else quoteStop[i] = c === 34 || c === 92 ? i : quoteStop[i + 1]!;
  }
  const out: [string, string][] = [];
  for (let at = 0; at < n; ) {
    const p = nonSpace[at]!;
    const end = keyEnd[p]!;
    if (p >= n || !isWord(line.charCodeAt(p)) || end - p < 2 || line.charCodeAt(end) !== 58 /* : */) {
      at++;
      continue;
    }
    const v = nonSpace[end + 1]!;
    let valueEnd = -1;
    if (line.charCodeAt(v) === 34 /* " */) {
      const q = quoteStop[v + 1]!;
      if (q < n && line.charCodeAt(q) === 34 && q > v + 1 && (q + 1 === n || line.charCodeAt(q + 1) === 44)) valueEnd = q + 1;
    }
    if (valueEnd < 0) {
      const comma = line.indexOf(',', v);
      valueEnd = comma < 0 ? n : comma;
    }
    out.push([line.slice(p, end), line.slice(v, valueEnd)]);
    // Past the value and its comma.
    at = valueEnd + 1;
  }
  return out;
}

/** parse_generation_parameters: Prompt, Negative prompt, the pairs, Size-1/Size-2 and A1111's defaults. */
export function parseInfotext(text: string): Record<string, string | number> {
  const lines = text.trim().split('\n');
  let last = lines.pop() ?? '';
  let pairs = readPairs(last);
  if (pairs.length < 3) {
    lines.push(last);
    last = '';
    pairs = [];
  }
  let prompt = '';
  let negative = '';
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice(16).trim();
    }
    if (inNegative) negative += (negative === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const res: Record<string, string | number> = { Prompt: prompt, 'Negative prompt': negative };
  for (const [k, raw] of pairs) {
    const v = raw.startsWith('"') && raw.endsWith('"') ? unquote(raw) : raw;
    const size = /^(\d+)x(\d+)$/.exec(v);
    if (size) {
      res[`${k}-1`] = size[1]!;
      res[`${k}-2`] = size[2]!;
    } else {
      res[k] = v;
    }
  }
  const defaults: [string, string | number][] = [
    ['Clip skip', '1'],
    ['Hires resize-1', 0],
    ['Hires resize-2', 0],
    ['Hires sampler', 'Use same sampler'],
    ['Hires checkpoint', 'Use same checkpoint'],
    ['Hires prompt', ''],
    ['Hires negative prompt', ''],
    ['Mask mode', 'Inpaint masked'],
    ['Masked content', 'original'],
    ['Inpaint area', 'Whole picture'],
    ['Masked area padding', 32],
    ['RNG', 'GPU'],
    ['Schedule type', 'Automatic'],
    ['Schedule max sigma', 0],
    ['Schedule min sigma', 0],
    ['Schedule rho', 0],
    ['VAE Encoder', 'Full'],
    ['VAE Decoder', 'Full'],
    ['FP8 weight', 'Disable'],
  ];
  for (const [k, v] of defaults) if (!(k in res)) res[k] = v;
  return res;
}
