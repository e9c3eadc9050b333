/**
 * Which CLIP tokenizer a model directory uses: the `tokenizer` option, else
 * <model>/tokenizer, else the SD 1.x tokenizer bundled with sd-mali (the TVM build writes
 * none, and every SD 1.x checkpoint shares CLIP's BPE). Load, `info` and `doctor` agree
 * through this one rule.
 */
import { bundledClipTokenizer, bundledMergesPath, ClipTokenizer } from '../tokenizer/index.js';
import type { ModelDirectory } from './model-directory.js';

export type TokenizerOrigin = 'option' | 'model' | 'bundled';

export interface TokenizerSource {
  origin: TokenizerOrigin;
  /** The tokenizer folder, or the bundled merges file. */
  path: string;
}

export function resolveTokenizerSource(model: Pick<ModelDirectory, 'tokenizer'>, option?: string): TokenizerSource {
  if (option !== undefined) return { origin: 'option', path: option };
  if (model.tokenizer !== undefined) return { origin: 'model', path: model.tokenizer };
  return { origin: 'bundled', path: bundledMergesPath() };
}

export function loadTokenizer(source: TokenizerSource): Promise<ClipTokenizer> {
  return source.origin === 'bundled' ? bundledClipTokenizer() : ClipTokenizer.fromDirectory(source.path);
}

/** One line for people: where the tokenizer comes from. */
export function describeTokenizerSource(source: TokenizerSource): string {
  switch (source.origin) {
    case 'option':
      return `${source.path} (given)`;
    case 'model':
      return `${source.path} (the model's own)`;
    case 'bundled':
      return 'the SD 1.x CLIP tokenizer bundled with sd-mali (the model directory has no tokenizer/)';
  }
}
