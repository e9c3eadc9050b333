/**
 * Errors in FastAPI's shape, as AUTOMATIC1111's API answers: `{ detail: "..." }`, and for
 * validation `422 { detail: [{ loc, msg, type }] }`. Never a stack trace.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { logValue } from './log-value.js';

/** An error with the status and `detail` the client sees. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.name = 'HttpError';
  }
}

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A 422 naming one field, for checks the JSON schema cannot express. */
export function fieldError(field: string, msg: string, type = 'value_error'): HttpError {
  return new HttpError(422, [{ loc: ['body', field], msg, type }] satisfies ValidationIssue[]);
}

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function fromAjv(context: string, issue: AjvIssue): ValidationIssue {
  const loc: (string | number)[] = [context];
  for (const part of issue.instancePath.split('/').filter((p) => p.length > 0)) loc.push(/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (issue.keyword === 'required' && typeof issue.params['missingProperty'] === 'string') {
    loc.push(issue.params['missingProperty']);
    return { loc, msg: 'field required', type: 'value_error.missing' };
  }
  const type = issue.keyword === 'type' ? `type_error.${String(issue.params['type'])}` : `value_error.${issue.keyword}`;
  return { loc, msg: issue.message ?? issue.keyword, type };
}

/** fastify's error handler: maps every error to FastAPI's shape and logs the unexpected. */
export function makeErrorHandler(log: (line: string) => void) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    if (error instanceof HttpError) {
      void reply.code(error.statusCode).headers(error.headers).send({ detail: error.detail });
      return;
    }
    if (error.validation) {
      const issues = (error.validation as AjvIssue[]).map((v) => fromAjv(error.validationContext ?? 'body', v));
      void reply.code(422).send({ detail: issues });
      return;
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        void reply.code(413).send({ detail: `request body is larger than the server's limit of ${request.routeOptions.bodyLimit ?? 'its'} bytes` });
        return;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        void reply.code(415).send({ detail: `unsupported content type ${logValue(request.headers['content-type'] ?? '(none)', 80)}; send application/json` });
        return;
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        void reply.code(422).send({ detail: [{ loc: ['body'], msg: 'field required', type: 'value_error.missing' }] });
        return;
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        void reply.code(422).send({ detail: [{ loc: ['body', 0], msg: `invalid JSON: ${error.message}`, type: 'value_error.jsondecode' }] });
        return;
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      void reply.code(error.statusCode).send({ detail: error.message });
      return;
    }
    log(`sd-mali serve: ${request.method} ${logValue(request.url)} failed: ${error.stack ?? error.message}`);
    void reply.code(500).send({ detail: `internal server error (${error.name}): see the server's log` });
  };
}
