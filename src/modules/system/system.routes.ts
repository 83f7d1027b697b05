import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answers; rejects or times out otherwise. */
  check: () => Promise<void>;
}

export interface SystemRouteOptions {
  title: string;
  version: string;
  readiness: readonly ReadinessCheck[];
}

const READINESS_TIMEOUT_MS = 2000;

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const Readiness = Type.Object({
  status: Type.Enum(['ready', 'not_ready']),
  checks: Type.Record(Type.String(), Type.Enum(['ok', 'down'])),
});

/** Root, liveness and readiness: reached without a token. */
export const systemRoutes: FastifyPluginAsyncTypebox<SystemRouteOptions> = async (
  app,
  { title, version, readiness },
) => {
  const tags = ['system'];

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'getServiceInfo',
        summary: 'Service name, version and where the docs are',
        security: [],
        response: {
          200: Type.Object(
            { message: Type.String(), version: Type.String(), docs: Type.String() },
            {
              description: 'The service',
              examples: [{ message: '在线客服系统', version: '1.0.0', docs: '/api/docs' }],
            },
          ),
        },
      },
    },
    async () => ({ message: title, version, docs: '/api/docs' }),
  );

  app.get(
    '/health',
    {
      schema: {
        tags,
        operationId: 'getHealth',
        summary: 'Liveness: the process is up (dependencies are not checked)',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('healthy') }, { description: 'The process is up' }) },
      },
    },
    async () => ({ status: 'healthy' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags,
        operationId: 'getReadiness',
        summary: 'Readiness: 200 only when the database (and Redis, if configured) answer',
        security: [],
        response: {
          200: { ...Readiness, description: 'Every dependency answers' },
          503: { ...Readiness, description: 'A dependency is down (`checks` says which); retry after `Retry-After`' },
        },
      },
    },
    async (request, reply) => {
      const results = await Promise.all(
        readiness.map(async ({ name, check }) => {
          try {
            await withTimeout(check(), READINESS_TIMEOUT_MS);
            return [name, 'ok'] as const;
          } catch (error) {
            request.log.warn({ err: error, dependency: name }, 'readiness check failed');
            return [name, 'down'] as const;
          }
        }),
      );
      const ready = results.every(([, state]) => state === 'ok');
      if (!ready) reply.code(503).header('retry-after', '5');
      return { status: ready ? ('ready' as const) : ('not_ready' as const), checks: Object.fromEntries(results) };
    },
  );
};
