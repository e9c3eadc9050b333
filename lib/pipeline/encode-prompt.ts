/**
 * The encode-prompt stage (diffusers' encode_prompt): the text encoder's embeddings for the
 * UNet. With classifier-free guidance, [negative; prompt] as one [2,77,D] batch (the UNet
 * reads batch 0 as unconditional); without it (guidance scale <= 1 on a host-guided model),
 * the prompt alone, [1,77,D], and no negative prompt is encoded.
 */
import { CLIP_MAX_LENGTH } from '../tokenizer/index.js';
import type { NDArray } from '../tvm/index.js';
import { callEntry, type LoadedModel } from './loaded-model.js';
import type { ResourceScope } from './resource-scope.js';

export interface PromptIds {
  prompt: Int32Array;
  /** Absent: no guidance, one batch-1 UNet call per step. */
  negative?: Int32Array;
}

export async function encodePrompt(model: LoadedModel, scope: ResourceScope, ids: PromptIds): Promise<NDArray> {
  const { runtime, device, params } = model;
  const encode = async (tokens: Int32Array): Promise<NDArray> => {
    const input = scope.add(await runtime.ndarrayAsync(tokens, [1, CLIP_MAX_LENGTH], 'int32', device));
    return scope.add(await callEntry(model, 'clip', input, params.clip!));
  };
  if (!ids.negative) return encode(ids.prompt);
  // In diffusers' order: the prompt, then the negative prompt, concatenated negative first.
  const cond = await encode(ids.prompt);
  const uncond = await encode(ids.negative);
  return scope.add(await callEntry(model, 'concat_embeddings', uncond, cond));
}
