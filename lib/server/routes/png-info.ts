/** POST /sdapi/v1/png-info: the text chunks of a PNG, and its A1111 parameters parsed. */
import type { FastifyInstance } from 'fastify';
import { readPngText } from '../../image/index.js';
import { fieldError } from '../http-errors.js';
import { parseInfotext } from '../infotext.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function registerPngInfo(app: FastifyInstance): void {
  app.post<{ Body: { image: string } }>(
    '/sdapi/v1/png-info',
    { schema: { body: { type: 'object', required: ['image'], properties: { image: { type: 'string' } } } } },
    async (request) => {
      // A1111 accepts a data URL or bare base64.
      const encoded = request.body.image.replace(/^data:image\/[a-z]+;base64,/, '');
      const bytes = Buffer.from(encoded, 'base64');
      if (bytes.length < 8 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) throw fieldError('image', 'is not a base64 PNG');
      const items = readPngText(bytes);
      const info = items['parameters'] ?? '';
      return { info, items, parameters: info ? parseInfotext(info) : {} };
    },
  );
}
