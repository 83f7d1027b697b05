import type { ServerResponse } from 'node:http';
import { CloseCode } from '@cs-chat/contracts/ws/close-codes';
import { parseClientFrame } from '@cs-chat/contracts/ws/frame-parser';
import { MAX_FRAME_BYTES } from '@cs-chat/contracts/ws/protocol';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { RawData, WebSocket } from 'ws';
import type { Config } from '../config/config.ts';
import { redactUrl } from '../http/logging.ts';
import { languageOf } from '../http/messages.ts';
import type { UserAuthenticator } from '../modules/auth/authenticator.ts';
import type { TicketIssuer } from '../modules/auth/ws-tickets.ts';
import type { ConversationService } from '../modules/conversations/conversation.service.ts';
import type { MessageService } from '../modules/messages/message.service.ts';
import { type Quotas, quotaExceeded } from '../quotas/quotas.ts';
import { ClientConnection } from './connection.ts';
import { errorEvent, rejectionEvent } from './errors.ts';
import { createFrameHandler } from './frame-handler.ts';
import type { Realtime } from './realtime.ts';
import { redisKeyPrefix } from './redis-prefix.ts';
import { trustedOrigins, upgradeGuard } from './upgrade-auth.ts';

/** The WebSocket paths: the reference client's `/api/ws/{user_id}` and the seed's `/ws/{user_id}`. */
export const WEBSOCKET_PATHS = ['/api/ws/:user_id', '/ws/:user_id'] as const;

export interface GatewayDependencies {
  realtime: Realtime;
  services: {
    authenticate: UserAuthenticator;
    tickets: TicketIssuer;
    messages: Pick<MessageService, 'send' | 'findLegacyEcho' | 'readAll'>;
    conversations: Pick<ConversationService, 'visible'>;
    quotas: Pick<Quotas, 'limits' | 'refuse' | 'counted'>;
  };
  config: Pick<Config, 'CORS_ORIGINS' | 'BASE_URL' | 'REDIS_PREFIX'>;
  /** The deployment's shared-state Redis (REDIS_URL set), where the per-address counts live. */
  redis?: Redis;
}

/** Where @fastify/rate-limit keeps the per-address counts of new sockets in Redis. */
export const newSocketsRedisNamespace = (deploymentPrefix: string) => `${redisKeyPrefix(deploymentPrefix)}new-sockets:`;

/**
 * New upgrades per client address per second (request.ip: the client behind a
 * TRUSTED_PROXIES proxy), with @fastify/rate-limit; counted in Redis when
 * REDIS_URL is set, so the limit holds across instances. A Redis outage lets
 * upgrades through (skipOnError) rather than refusing every client.
 */
async function limitNewSockets(app: FastifyInstance, deps: GatewayDependencies): Promise<void> {
  const { quotas } = deps.services;
  const { redis } = deps;
  await app.register(rateLimit, {
    global: false,
    ...(redis ? { redis, nameSpace: newSocketsRedisNamespace(deps.config.REDIS_PREFIX) } : {}),
    skipOnError: true,
    keyGenerator: (request) => request.ip,
    onExceeded: () => quotas.counted('new_sockets_per_address'),
    errorResponseBuilder: (_request, context) =>
      quotaExceeded('new_sockets_per_address', Math.ceil(context.ttl / 1000)),
  });
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Registers @fastify/websocket and the two socket routes. Register it before
 * `listen`; `app.close()` then closes every socket with 1012 (via preClose)
 * after in-flight frames are answered, before the database goes away.
 */
export async function registerRealtimeGateway(app: FastifyInstance, deps: GatewayDependencies): Promise<void> {
  const { realtime, services, config } = deps;
  const handle = createFrameHandler({
    messages: services.messages,
    conversations: services.conversations,
    realtime,
  });

  await app.register(websocket, {
    // Larger frames make `ws` close the socket with 1009.
    options: { maxPayload: MAX_FRAME_BYTES },
    // `ws` closes the socket itself on protocol errors (1009, 1007, ...): only note them.
    errorHandler: (error, _socket, request) => {
      request.log.debug({ err: error, url: redactUrl(request.url) }, 'websocket error');
    },
    preClose: async () => {
      await realtime.close();
      app.websocketServer.close();
    },
  });

  const guard = upgradeGuard(services.authenticate, services.tickets, trustedOrigins(config));
  const { quotas } = services;
  /**
   * Authenticated, and under the user's socket allowance on this instance:
   * one more is refused with 429 before the upgrade (closing the oldest
   * instead would let a script knock the user's real tabs off in a loop).
   */
  const onRequest = async (request: FastifyRequest): Promise<void> => {
    await guard(request);
    if (realtime.registry.ofUser(request.caller.id).length >= quotas.limits.socketsPerUser) {
      quotas.refuse('sockets_per_user', 5);
    }
  };

  function onSocket(socket: WebSocket, request: FastifyRequest): void {
    if (realtime.closing) {
      socket.close(CloseCode.serviceRestart, 'service restart');
      return;
    }
    releaseUpgradeRequest(socket, request);
    const reqId = request.id;
    const connection = new ClientConnection(
      socket,
      // The upgraded request's TCP socket: the one `ws` reads and writes frames on.
      request.raw.socket,
      request.caller,
      languageOf(request.headers['accept-language']),
      realtime.limits,
      {
        // The instance's logger with the upgrade's reqId, not the request's own child logger:
        // nothing a socket keeps for its lifetime may hold on to the upgrade request.
        onTaskError: (error) =>
          app.log.error({ err: error, reqId, connectionId: connection.id }, 'websocket frame handler failed'),
      },
    );
    connection.session = request.session;
    request.log.debug({ userId: connection.userId, connectionId: connection.id }, 'websocket connected');
    const { language } = connection;
    socket.on('pong', () => connection.markAlive());
    socket.on('close', () => realtime.detach(connection));
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (realtime.closing) {
        // The socket is about to close with 1012; say so, so the client resends after reconnecting.
        const parsed = isBinary ? undefined : parseClientFrame(asBuffer(data).toString('utf8'));
        const clientMsgId = parsed?.ok && parsed.frame.type === 'message' ? parsed.frame.client_msg_id : undefined;
        connection.send(errorEvent('service_unavailable', language, { clientMsgId }));
        return;
      }
      const decision = connection.admit();
      if (decision !== 'allow') {
        connection.send(errorEvent('rate_limited', language));
        if (decision === 'disconnect') connection.close(CloseCode.policyViolation, 'rate limit exceeded');
        return;
      }
      if (isBinary) {
        connection.send(errorEvent('binary_not_supported', language));
        return;
      }
      const parsed = parseClientFrame(asBuffer(data).toString('utf8'));
      if (!parsed.ok) {
        connection.send(rejectionEvent(parsed, language));
        return;
      }
      connection.enqueue(() => handle(connection, parsed.frame));
    });
    void realtime.attach(connection);
  }

  /** Protocol errors on an open socket: `ws` closes it itself (1009, 1007, ...); only noted. */
  function onSocketError(error: Error): void {
    app.log.debug({ err: error }, 'websocket error');
  }

  /**
   * An idle socket lives for hours; the HTTP objects of its upgrade need not.
   * @fastify/websocket's per-socket error listener closes over the upgrade's
   * request and reply, and the hijacked response stays attached to the TCP
   * socket (which points back to the request): together about 3 KB of heap
   * per socket (IncomingMessage, ServerResponse, Fastify's Request, Reply and
   * child logger, the headers and URL). Swap the listener for one shared
   * function and detach the response, so they are collected after the upgrade.
   */
  function releaseUpgradeRequest(socket: WebSocket, request: FastifyRequest): void {
    socket.removeAllListeners('error');
    socket.on('error', onSocketError);
    const tcp = request.raw.socket as typeof request.raw.socket & { _httpMessage?: ServerResponse | null };
    tcp._httpMessage?.detachSocket(tcp);
  }

  // In its own scope: the rate-limit plugin (and its decorator) stays private to the socket routes.
  await app.register(async (sockets) => {
    await limitNewSockets(sockets, deps);
    for (const path of WEBSOCKET_PATHS) {
      sockets.get(
        path,
        {
          websocket: true,
          onRequest,
          schema: { hide: true },
          config: {
            rateLimit: { max: quotas.limits.newSocketsPerAddress, timeWindow: quotas.limits.newSocketsWindowMs },
          },
        },
        onSocket,
      );
    }
  });
}
