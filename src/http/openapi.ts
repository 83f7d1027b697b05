import type { SwaggerOptions } from '@fastify/swagger';
import type { Config } from '../config/config.ts';

/** What each error status means on this API (docs/API.md, "Conventions"): the description of every error response. */
export const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'A business rule refused the request (`error_type` says which)',
  401: 'No credentials, or the token is invalid, expired or revoked (or the platform key is wrong)',
  403: 'Signed in, but not allowed to do this',
  404: 'Not found, or not visible to the caller',
  409: 'Conflicts with the current state (`error_type` says how)',
  413: 'The body or file is too large',
  415: 'The body is not of a media type this endpoint reads',
  416: 'The requested byte range is outside the file (`Content-Range` gives its size)',
  422: 'The request does not validate: `errors` lists each problem as "field: message"',
  429: 'Rate limited: retry after `Retry-After` seconds',
  503: 'A dependency (database, Redis) is unreachable or the server is shutting down: retry after `Retry-After` seconds',
};

/** A typical body of each error status (the messages of src/http/messages.ts, in Chinese as served by default). */
const ERROR_EXAMPLES: Record<number, { detail: string; error_type: string; errors?: string[] }> = {
  400: { detail: '会话只能在买家与商家、买家与客服、商家与客服之间建立', error_type: 'invalid_pair' },
  401: { detail: '未认证：缺少或无效的访问令牌', error_type: 'not_authenticated' },
  403: { detail: '没有权限执行此操作', error_type: 'forbidden' },
  404: { detail: '资源不存在', error_type: 'not_found' },
  409: { detail: '用户名已被使用', error_type: 'username_taken' },
  413: { detail: '请求体过大', error_type: 'payload_too_large' },
  415: { detail: '不支持的请求内容类型', error_type: 'unsupported_media_type' },
  416: { detail: '请求的字节范围无效', error_type: 'range_not_satisfiable' },
  422: {
    detail: '请求参数校验失败',
    error_type: 'validation_error',
    errors: ['body/content: must NOT have fewer than 1 characters'],
  },
  429: { detail: '发送消息过于频繁，请稍后再试', error_type: 'send_rate_limited' },
  503: { detail: '服务暂时不可用，请稍后重试', error_type: 'service_unavailable' },
};

/** Security of the endpoints that need no credentials (sign-in, health, media files, the root). */
export const PUBLIC: { security: Record<string, string[]>[] } = { security: [] };

interface RouteSchema {
  response?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * Document-only rewrite of a route schema (the route itself is untouched): every
 * error response gets the description of its status, so no response is called
 * "Default Response".
 */
export function describeErrors({ schema, url }: { schema: unknown; url: string }): {
  schema: RouteSchema;
  url: string;
} {
  const routeSchema = (schema ?? {}) as RouteSchema;
  if (!routeSchema.response) return { schema: routeSchema, url };
  const response: Record<string, Record<string, unknown>> = {};
  for (const [status, responseSchema] of Object.entries(routeSchema.response)) {
    const description = ERROR_DESCRIPTIONS[Number(status)];
    response[status] =
      description === undefined || responseSchema.title !== 'ErrorResponse'
        ? responseSchema
        : { ...responseSchema, 'x-response-description': description, examples: [ERROR_EXAMPLES[Number(status)]] };
  }
  return { schema: { ...routeSchema, response }, url };
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null;
const SCHEMA_NAME = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Every schema with a `title` (the named schemas of packages/contracts) becomes
 * `components.schemas[title]`, and each place that used it a `$ref` to it. Two
 * different schemas under one title are a mistake in the contracts: refused.
 */
export function hoistNamedSchemas(document: Json): Json {
  const components = (document.components ?? {}) as Json;
  const schemas = { ...((components.schemas ?? {}) as Json) };
  const seen = new Map<string, string>();
  const visit = (node: unknown, isSchemaPosition: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => visit(item, isSchemaPosition));
    if (!isObject(node)) return node;
    const out: Json = {};
    for (const [key, value] of Object.entries(node)) {
      // `examples`, `example` and `enum`/`const` hold data, not schemas.
      out[key] =
        key === 'examples' || key === 'example' || key === 'enum' || key === 'const' ? value : visit(value, true);
    }
    const title = out.title;
    if (
      isSchemaPosition &&
      typeof title === 'string' &&
      SCHEMA_NAME.test(title) &&
      ('type' in out || 'anyOf' in out || 'allOf' in out)
    ) {
      // fastify-swagger moves the examples of a body's or response's top schema to the media type: compared without them.
      const { examples, ...definition } = out;
      const text = JSON.stringify(definition);
      const earlier = seen.get(title);
      if (earlier !== undefined && earlier !== text) throw new Error(`two different schemas are named ${title}`);
      seen.set(title, text);
      if (examples !== undefined || schemas[title] === undefined) schemas[title] = out;
      return { $ref: `#/components/schemas/${title}` };
    }
    return out;
  };
  const paths = visit(document.paths, false);
  return { ...document, paths, components: { ...components, schemas } };
}

/**
 * The OpenAPI document: named component schemas (the titles of packages/contracts),
 * the four ways to authenticate, and every error response described.
 */
export function openApiOptions(
  config: Pick<Config, 'APP_TITLE' | 'APP_DESCRIPTION' | 'APP_VERSION' | 'BASE_URL'>,
): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: config.APP_TITLE,
        description: config.APP_DESCRIPTION,
        version: config.APP_VERSION,
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: config.BASE_URL }],
      externalDocs: {
        description: 'The WebSocket protocol (events, frames, close codes): the AsyncAPI 3 document',
        url: `${config.BASE_URL.replace(/\/$/, '')}/api/asyncapi.json`,
      },
      tags: [
        { name: 'system', description: 'Service information and health' },
        { name: 'auth', description: 'Sign-in, tokens, sessions and WebSocket tickets' },
        { name: 'users', description: 'Users: buyers, merchants, service agents and admins' },
        { name: 'conversations', description: 'One-to-one conversations and their history' },
        { name: 'messages', description: 'Sending, reading and deleting messages' },
        { name: 'quick-replies', description: 'Canned answers of merchants and service agents' },
        { name: 'uploads', description: 'Images and files to send in messages' },
        { name: 'media', description: 'Stored files (avatars and uploads)' },
        { name: 'search', description: 'Full-text search of messages (Chinese, Latin words and numbers)' },
        { name: 'webhooks', description: 'Signed event deliveries to the host platform (admin)' },
        {
          name: 'transcript',
          description: "Tamper-evident, signed transcripts of conversations and the server's public key",
        },
        {
          name: 'guard',
          description:
            'The content guard: its rules and sensitive words (admin), and the review queue of held messages',
        },
        { name: 'cards', description: "Order and product cards: the host platform's state of what a chat is about" },
        { name: 'teams', description: 'The staff who answer for a shop or the platform desk, and their settings' },
        { name: 'quality', description: "Service quality: buyers' satisfaction ratings of resolved conversations" },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'The `access_token` of a sign-in, as `Authorization: Bearer <token>`',
          },
          // Set by POST /api/auth/login; changes made with it need an allowed Origin (CSRF).
          cookieAuth: {
            type: 'apiKey',
            in: 'cookie',
            name: 'access_token',
            description: 'The cookie POST /api/auth/login sets; writes with it need an allowed `Origin` (CSRF)',
          },
          apiKeyAuth: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description:
              "The host platform's key (PLATFORM_API_KEY), for POST /api/auth/token and the card endpoints of the platform",
          },
          oauth2Password: {
            type: 'oauth2',
            description: 'Swagger UI\'s "Authorize": a username and password, exchanged for a bearer token',
            flows: { password: { tokenUrl: '/api/auth/oauth2/token', scopes: {} } },
          },
        },
      },
      security: [{ bearerAuth: [] }, { cookieAuth: [] }, { oauth2Password: [] }],
    },
    transform: describeErrors,
    transformObject: (document) =>
      'openapiObject' in document ? hoistNamedSchemas(document.openapiObject as Json) : document.swaggerObject,
  };
}
