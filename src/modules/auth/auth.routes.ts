import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { errorResponses } from '../../http/common.schemas.ts';
import type { Services } from '../../services.ts';
import { User } from '../users/user.schemas.ts';
import { ApiKeyHeaders, LoginBody, PlatformTokenBody, TokenResponse } from './auth.schemas.ts';
import type { IssuedToken } from './tokens.ts';

export interface AuthRouteOptions {
  services: Services;
  /** Cookies are marked Secure when BASE_URL is https. */
  secureCookies: boolean;
}

/** Sign-in endpoints; they are reached without a token. */
export const publicAuthRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (
  app,
  { services, secureCookies },
) => {
  const tags = ['auth'];

  const setTokenCookie = (reply: FastifyReply, issued: IssuedToken) =>
    reply.setCookie('access_token', issued.token, {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      secure: secureCookies,
      expires: new Date(issued.expiresAt * 1000),
    });

  app.post(
    '/login',
    {
      schema: {
        tags,
        summary: 'Sign in with username and password; also sets the access_token cookie',
        body: LoginBody,
        response: { 200: TokenResponse, ...errorResponses(401, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { issued, user } = await services.auth.login(request.body.username, request.body.password, request.ip);
      setTokenCookie(reply, issued);
      return { access_token: issued.token, token_type: 'bearer' as const, user };
    },
  );

  app.post(
    '/token',
    {
      schema: {
        tags,
        summary: 'Host platform (X-API-Key): create the user if absent and mint a token',
        headers: ApiKeyHeaders,
        body: PlatformTokenBody,
        response: { 200: TokenResponse, ...errorResponses(401, 403, 404, 409, 422, 503) },
      },
    },
    async (request) => {
      const { issued, user } = await services.auth.platformToken(request.headers['x-api-key'], request.body);
      return { access_token: issued.token, token_type: 'bearer' as const, user };
    },
  );
};

export const authRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        response: { 200: User, ...errorResponses(401, 403, 503) },
      },
    },
    (request) => services.users.toUser(request.caller),
  );
};
