/**
 * Reads A1111's "parameters" text ("<prompt>\nNegative prompt: …\nSteps: 20, Sampler: …")
 * into the dictionary its png-info endpoint returns (keys as A1111 writes them).
 */
export function parseInfotext(text: string): Record<string, string> {
  const lines = text.trim().split('\n');
  const last = lines.at(-1) ?? '';
  // The last line holds "Key: value" pairs when it has at least a few of them.
  const pairs = [...last.matchAll(/\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g)];
  const body = pairs.length >= 3 ? lines.slice(0, -1) : lines;
  const out: Record<string, string> = {};
  const negativeAt = body.findIndex((l) => l.startsWith('Negative prompt:'));
  const promptLines = negativeAt >= 0 ? body.slice(0, negativeAt) : body;
  out['Prompt'] = promptLines.join('\n').trim();
  if (negativeAt >= 0) out['Negative prompt'] = body.slice(negativeAt).join('\n').slice('Negative prompt:'.length).trim();
  if (pairs.length >= 3) for (const m of pairs) out[m[1]!.trim()] = m[2]!.trim();
  return out;
}
