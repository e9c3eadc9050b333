export { GeneratedImage, formatParameters, type GenerationParameters, type GenerationTimings } from './generated-image.js';
export { encodePng, readPngText, crc32 } from './png.js';
