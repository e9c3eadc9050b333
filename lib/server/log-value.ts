/**
 * Client-supplied values in log lines: quoted (so a newline or an escape sequence cannot
 * forge a line or repaint a terminal) and cut (so a 7 MB value does not become a 7 MB line).
 */
export const LOG_VALUE_MAX = 120;

export function logValue(value: unknown, max = LOG_VALUE_MAX): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
  // JSON escapes control characters; U+2028/9 and DEL are escaped too, as some terminals break on them.
  return JSON.stringify(cut).replace(/[\u2028\u2029\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
