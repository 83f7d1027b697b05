import { errors, jwtVerify, SignJWT } from 'jose';
import { uuidv7 } from '../../lib/ids.ts';

export interface TokenSettings {
  secret: string;
  algorithm: 'HS256' | 'HS384' | 'HS512';
  expireDays: number;
}

export interface IssuedToken {
  token: string;
  /** Unix seconds. */
  expiresAt: number;
  /** The session this token belongs to (its `sid` claim): what POST /api/auth/logout ends. */
  sessionId: string;
}

/** What a valid token says about its session; carried by the request and the socket it opened. */
export interface TokenSession {
  userId: string;
  /** Absent on tokens issued before sessions existed: those end only with their user's other tokens. */
  sessionId: string | undefined;
  /** Milliseconds; a user's tokens issued before `users.tokens_valid_after` are refused. */
  issuedAtMs: number;
  /** Unix seconds. */
  expiresAt: number;
}

export type TokenCheck = ({ ok: true } & TokenSession) | { ok: false; reason: 'token_expired' | 'invalid_token' };

/** Verified tokens remembered, so a client's every request does not pay for HMAC again. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * How far in the future a token's `iat` may be (clock drift between the
 * instances that issue and check it). Beyond it the token was not made by a
 * server with a sane clock, or was minted with the secret to outlive a
 * revocation (tokens issued before `tokens_valid_after` are refused).
 */
export const MAX_ISSUED_AT_SKEW_SECONDS = 60;

const SESSION_ID = /^[0-9a-f-]{36}$/;

/**
 * HMAC JWTs. Verification accepts exactly the configured algorithm, so `none`
 * and asymmetric-key confusion are rejected before the signature is looked at.
 * Each token names its session (`sid`) and its issue time to the millisecond
 * (`iat_ms`, beside the standard `iat` in seconds) so that revocation can tell
 * a token issued just before a "log out everywhere" from one issued just after.
 */
export function createTokenIssuer(settings: TokenSettings) {
  const hash = `SHA-${settings.algorithm.slice(2)}`;
  // Imported once: handing jose raw bytes would import a WebCrypto key on every call.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(settings.secret), { name: 'HMAC', hash }, false, [
    'sign',
    'verify',
  ]);
  const lifetimeSeconds = Math.max(1, Math.round(settings.expireDays * 86_400));
  // Token text → its session. Only byte-identical tokens that passed full
  // verification are here; expiry is still checked on every use.
  const verified = new Map<string, TokenSession>();

  function remember(token: string, session: TokenSession): void {
    if (verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, session);
  }

  return {
    async issue(userId: string, role: string): Promise<IssuedToken> {
      const nowMs = Date.now();
      const now = Math.floor(nowMs / 1000);
      const expiresAt = now + lifetimeSeconds;
      const sessionId = uuidv7(nowMs);
      const token = await new SignJWT({ role, sid: sessionId, iat_ms: nowMs })
        .setProtectedHeader({ alg: settings.algorithm, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(now)
        .setExpirationTime(expiresAt)
        .sign(await key);
      return { token, expiresAt, sessionId };
    },

    async verify(token: string): Promise<TokenCheck> {
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt > Date.now() / 1000) return { ok: true, ...known };
        verified.delete(token);
        return { ok: false, reason: 'token_expired' };
      }
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: [settings.algorithm],
          requiredClaims: ['sub', 'exp', 'iat'],
        });
        const { sub, exp, iat, sid, iat_ms: iatMs } = payload;
        if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number' || typeof iat !== 'number') {
          return { ok: false, reason: 'invalid_token' };
        }
        if (iat > Date.now() / 1000 + MAX_ISSUED_AT_SKEW_SECONDS) return { ok: false, reason: 'invalid_token' };
        if (sid !== undefined && (typeof sid !== 'string' || !SESSION_ID.test(sid))) {
          return { ok: false, reason: 'invalid_token' };
        }
        // iat_ms must agree with iat, so it cannot be used to sneak a token past tokens_valid_after.
        const issuedAtMs = typeof iatMs === 'number' && Math.floor(iatMs / 1000) === iat ? iatMs : iat * 1000;
        const session: TokenSession = { userId: sub, sessionId: sid, issuedAtMs, expiresAt: exp };
        remember(token, session);
        return { ok: true, ...session };
      } catch (error) {
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'token_expired' };
        return { ok: false, reason: 'invalid_token' };
      }
    },
  };
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
