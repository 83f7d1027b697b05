import type { Server } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeMetrics } from '../observability/metrics.ts';
import { type BodyRateLimits, guardRequestBodies } from './body-rate-guard.ts';
import { plainAddress, trustedProxyMatcher } from './client-address.ts';
import { limitConnectionsPerAddress } from './connection-gate.ts';

/**
 * What a client must do to keep a connection: send its headers in time, send
 * its body at a minimum rate, and hold no more than so many connections at
 * once. Constants (documented in README, "Connection limits"); tests inject
 * small values through ServerOptions.edgeLimits.
 */
export interface EdgeLimits extends BodyRateLimits {
  /** A request's headers must have arrived this long after its first byte (Node's headersTimeout). */
  headersTimeoutMs: number;
  /** Concurrent TCP connections per client address (IPv6: per /64); TRUSTED_PROXIES are exempt. */
  maxConnectionsPerAddress: number;
}

export const EDGE_LIMITS: EdgeLimits = {
  headersTimeoutMs: 15_000,
  // 1 KiB/s over 20 s: a 10 MB upload over a 2G link (~6 KiB/s) passes; a byte every 10 s does not.
  bodyMinBytesPerSecond: 1024,
  bodyRateWindowMs: 20_000,
  bodyIdleTimeoutMs: 20_000,
  checkIntervalMs: 1_000,
  // A browser opens ~6 connections per host plus its WebSocket: room for an office behind one NAT address.
  maxConnectionsPerAddress: 256,
};

/** Node's HTTP server options that bound the headers phase (Fastify's `http` option). */
export function headerTimeouts(limits: EdgeLimits): { headersTimeout: number; connectionsCheckingInterval: number } {
  return { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs };
}

/** Puts the per-address connection cap and the body rate guard on the HTTP server. */
export function installEdgeLimits(
  server: Server,
  options: { limits: EdgeLimits; trustedProxies: readonly string[]; metrics?: EdgeMetrics; logger: FastifyBaseLogger },
): void {
  const { limits, metrics, logger } = options;
  limitConnectionsPerAddress(server, {
    maxPerAddress: limits.maxConnectionsPerAddress,
    exempt: trustedProxyMatcher(options.trustedProxies),
    onRefused(address) {
      metrics?.edgeRefusal('too_many_connections');
      // Debug only: a flood of refusals must not become a flood of log lines.
      logger.debug({ address: plainAddress(address) }, 'connection refused: too many from this address');
    },
  });
  guardRequestBodies(server, limits, (reason, request) => {
    metrics?.edgeRefusal(reason);
    logger.info(
      // No URL: it may carry a token in its query string.
      { address: plainAddress(request.socket.remoteAddress ?? ''), method: request.method, reason },
      'request body timed out',
    );
  });
}
