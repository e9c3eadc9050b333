/**
 * POST /sdapi/v1/png-info: the generation parameters of a PNG, JPEG or WebP (a data URL or
 * bare base64), with A1111's parse of them (parse_generation_parameters, Size-1/Size-2 and
 * its defaults) and the image's other text items.
 */
import type { FastifyInstance } from 'fastify';
import { fieldError } from '../http-errors.js';
import { readImageInfo } from '../image-info.js';
import { parseInfotext } from '../infotext.js';

export function registerPngInfo(app: FastifyInstance, bodyLimit: number): void {
  app.post<{ Body: { image: string } }>(
    '/sdapi/v1/png-info',
    { bodyLimit, schema: { body: { type: 'object', required: ['image'], properties: { image: { type: 'string' } } } } },
    async (request) => {
      const image = request.body.image.trim();
      // A1111 answers an empty image with an empty info.
      if (image.length === 0) return { info: '', items: {}, parameters: {} };
      // A1111: "data:image/…;base64,<data>" or bare base64.
      const encoded = image.startsWith('data:image/') ? (image.split(';')[1]?.split(',')[1] ?? '') : image;
      const info = await readImageInfo(Buffer.from(encoded, 'base64'));
      if (!info) throw fieldError('image', 'is not a base64 PNG, JPEG or WebP image');
      const text = info.parameters ?? '';
      return { info: text, items: info.items, parameters: parseInfotext(text) };
    },
  );
}
