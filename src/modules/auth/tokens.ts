import { errors, jwtVerify, SignJWT } from 'jose';

export interface TokenSettings {
  secret: string;
  algorithm: 'HS256' | 'HS384' | 'HS512';
  expireDays: number;
}

export interface IssuedToken {
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: 'token_expired' | 'invalid_token' };

/** Verified tokens remembered, so a client's every request does not pay for HMAC again. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * HMAC JWTs. Verification accepts exactly the configured algorithm, so `none`
 * and asymmetric-key confusion are rejected before the signature is looked at.
 */
export function createTokenIssuer(settings: TokenSettings) {
  const hash = `SHA-${settings.algorithm.slice(2)}`;
  // Imported once: handing jose raw bytes would import a WebCrypto key on every call.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(settings.secret), { name: 'HMAC', hash }, false, [
    'sign',
    'verify',
  ]);
  const lifetimeSeconds = Math.round(settings.expireDays * 86_400);
  // Token text → who it names and when it expires. Only byte-identical tokens that
  // passed full verification are here; expiry is still checked on every use.
  const verified = new Map<string, { userId: string; expiresAt: number }>();

  function remember(token: string, userId: string, expiresAt: number): void {
    if (verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, { userId, expiresAt });
  }

  return {
    async issue(userId: string, role: string): Promise<IssuedToken> {
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = now + lifetimeSeconds;
      const token = await new SignJWT({ role })
        .setProtectedHeader({ alg: settings.algorithm, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(now)
        .setExpirationTime(expiresAt)
        .sign(await key);
      return { token, expiresAt };
    },

    async verify(token: string): Promise<TokenCheck> {
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt > Date.now() / 1000) return { ok: true, userId: known.userId };
        verified.delete(token);
        return { ok: false, reason: 'token_expired' };
      }
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: [settings.algorithm],
          requiredClaims: ['sub', 'exp'],
        });
        if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') {
          return { ok: false, reason: 'invalid_token' };
        }
        remember(token, payload.sub, payload.exp);
        return { ok: true, userId: payload.sub };
      } catch (error) {
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'token_expired' };
        return { ok: false, reason: 'invalid_token' };
      }
    },
  };
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>;

/** The token from an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
