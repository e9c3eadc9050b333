export { GeneratedImage, formatParameters, type GenerationParameters, type GenerationTimings } from './generated-image.js';
export { encodePng, readPngText, crc32 } from './png.js';
export {
  loadInputImage,
  loadMask,
  inputImageSize,
  resizePlan,
  RESIZE_MODES,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_PIXELS,
  type ImageInput,
  type RawImage,
  type ResizeMode,
  type ImageLimits,
  type MaskOptions,
  type RgbImage,
} from './input-image.js';
