/** The CLIP BPE tokenizer of Stable Diffusion 1.x. */
export { ClipTokenizer, CLIP_MAX_LENGTH, type ClipTokenizerConfig } from './clip-tokenizer.js';
export { bundledClipTokenizer, bundledMergesPath, clipVocabularyFromMerges, CLIP_VOCAB_SIZE } from './bundled.js';
