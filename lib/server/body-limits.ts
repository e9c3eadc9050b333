/**
 * The largest body each route takes, in bytes: a few KB where a few KB is all it reads, so
 * no client can make the server buffer (and parse) megabytes it will not use. png-info's
 * is ServerLimits.bodyLimit (a base64 image).
 */
export const BODY_LIMITS = {
  /** txt2img: two prompts of up to maxPromptLength characters (JSON-escaped), an infotext, A1111's other fields. */
  txt2img: 256 * 1024,
  /** POST /options: settings are scalars of at most 1024 characters. */
  options: 64 * 1024,
  /** interrupt, skip, refresh-*, unload/reload-checkpoint: they read no body. */
  noBody: 4 * 1024,
  /** Anything else. */
  fallback: 16 * 1024,
} as const;

/** JSON nested deeper than this is refused before it is parsed (A1111's bodies nest a few levels). */
export const MAX_JSON_DEPTH = 32;
