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

/**
 * HMAC JWTs. Verification accepts exactly the configured algorithm, so `none`
 * and asymmetric-key confusion are rejected before the signature is looked at.
 */
export function createTokenIssuer(settings: TokenSettings) {
  const key = new TextEncoder().encode(settings.secret);
  const lifetimeSeconds = Math.round(settings.expireDays * 86_400);

  return {
    async issue(userId: string, role: string): Promise<IssuedToken> {
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = now + lifetimeSeconds;
      const token = await new SignJWT({ role })
        .setProtectedHeader({ alg: settings.algorithm, typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(now)
        .setExpirationTime(expiresAt)
        .sign(key);
      return { token, expiresAt };
    },

    async verify(token: string): Promise<TokenCheck> {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [settings.algorithm],
          requiredClaims: ['sub', 'exp'],
        });
        if (typeof payload.sub !== 'string' || payload.sub === '') return { ok: false, reason: 'invalid_token' };
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
