import {
  ApiKeyHeaders,
  DemoLoginBody,
  DemoUserList,
  LoginBody,
  OAuth2PasswordForm,
  PlatformTokenBody,
  SignedInUser,
  TokenResponse,
  WsTicketResponse,
} from '@cs-chat/contracts/rest/auth.schemas';
import { errorResponses, SuccessResponse } from '@cs-chat/contracts/rest/common.schemas';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { TOKEN_COOKIE } from '../../http/credentials.ts';
import { unavailable } from '../../lib/errors.ts';
import type { UserService } from '../users/user.service.ts';
import type { AuthService } from './auth.service.ts';
import type { IssuedToken } from './tokens.ts';
import type { TicketIssuer } from './ws-tickets.ts';

interface CookieOptions {
  /** Cookies are marked Secure when BASE_URL is https. */
  secureCookies: boolean;
}

export interface PublicAuthRouteDependencies extends CookieOptions {
  auth: Pick<AuthService, 'login' | 'platformToken' | 'demoUsers' | 'demoLogin'>;
}

export interface AuthRouteDependencies extends CookieOptions {
  auth: Pick<AuthService, 'logout' | 'logoutAll'>;
  users: Pick<UserService, 'toSignedInUser'>;
}

/** Sign-in endpoints; they are reached without a token. */
export const publicAuthRoutes: FastifyPluginAsyncTypebox<PublicAuthRouteDependencies> = async (
  app,
  { auth, secureCookies },
) => {
  const tags = ['auth'];

  const setTokenCookie = (reply: FastifyReply, issued: IssuedToken) =>
    reply.setCookie(TOKEN_COOKIE, issued.token, {
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
        operationId: 'login',
        summary: 'Sign in with username and password; also sets the access_token cookie',
        security: [],
        body: LoginBody,
        response: { 200: TokenResponse, ...errorResponses(401, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const { issued, user } = await auth.login(request.body.username, request.body.password, request.ip);
      setTokenCookie(reply, issued);
      return { access_token: issued.token, token_type: 'bearer' as const, user };
    },
  );

  // Form-encoded, in its own context so no other route reads form bodies (POST /login stays JSON only).
  await app.register(async (formContext) => {
    const form = formContext.withTypeProvider<TypeBoxTypeProvider>();
    // The grant is form-encoded only (RFC 6749): JSON falls to the catch-all parser, a 415 for a route with a body.
    form.removeContentTypeParser('application/json');
    form.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    form.post(
      '/oauth2/token',
      {
        schema: {
          tags,
          operationId: 'oauth2Token',
          summary: 'Sign in with the OAuth2 password grant (form-encoded): Swagger UI\'s "Authorize"; sets no cookie',
          security: [],
          consumes: ['application/x-www-form-urlencoded'],
          body: OAuth2PasswordForm,
          response: { 200: TokenResponse, ...errorResponses(401, 415, 422, 429, 503) },
        },
      },
      async (request) => {
        const { issued, user } = await auth.login(request.body.username, request.body.password, request.ip);
        return { access_token: issued.token, token_type: 'bearer' as const, user };
      },
    );
  });

  // The console's one-click sign-in (DEBUG=True only; a 404 otherwise, as if these routes did not exist).
  app.get(
    '/demo-users',
    {
      schema: {
        tags,
        operationId: 'listDemoUsers',
        summary: 'DEBUG=True only: the seeded demo users one may sign in as without a password (404 otherwise)',
        security: [],
        response: { 200: DemoUserList, ...errorResponses(404, 503) },
      },
    },
    async () => auth.demoUsers(),
  );

  app.post(
    '/demo-login',
    {
      schema: {
        tags,
        operationId: 'demoLogin',
        summary: 'DEBUG=True only: sign in as a seeded demo user without a password; also sets the access_token cookie',
        security: [],
        body: DemoLoginBody,
        response: { 200: TokenResponse, ...errorResponses(403, 404, 422, 503) },
      },
    },
    async (request, reply) => {
      const { issued, user } = await auth.demoLogin(request.body.user_id);
      setTokenCookie(reply, issued);
      return { access_token: issued.token, token_type: 'bearer' as const, user };
    },
  );

  app.post(
    '/token',
    {
      schema: {
        tags,
        operationId: 'mintPlatformToken',
        summary: 'Host platform (X-API-Key): create the user if absent and mint a token',
        security: [{ apiKeyAuth: [] }],
        headers: ApiKeyHeaders,
        body: PlatformTokenBody,
        response: { 200: TokenResponse, ...errorResponses(401, 403, 404, 409, 422, 503) },
      },
    },
    async (request) => {
      const { issued, user } = await auth.platformToken(request.headers['x-api-key'], request.body);
      return { access_token: issued.token, token_type: 'bearer' as const, user };
    },
  );
};

/** Sign-out endpoints and the signed-in user; they need a token (or the cookie). */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteDependencies> = async (
  app,
  { auth, users, secureCookies },
) => {
  const tags = ['auth'];
  // Same attributes as when it was set, or browsers keep the cookie.
  const clearTokenCookie = (reply: FastifyReply) =>
    reply.clearCookie(TOKEN_COOKIE, { httpOnly: true, sameSite: 'lax', path: '/', secure: secureCookies });

  app.post(
    '/logout',
    {
      schema: {
        tags,
        operationId: 'logout',
        summary: 'End the session of the token this is called with (on every instance) and clear the cookie',
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 503) },
      },
    },
    async (request, reply) => {
      await auth.logout(request.session);
      clearTokenCookie(reply);
      return { status: 'success' as const, message: 'signed out' };
    },
  );

  app.post(
    '/logout-all',
    {
      schema: {
        tags,
        operationId: 'logoutAll',
        summary: 'End every session of the signed-in user (every token issued until now) and clear the cookie',
        response: { 200: SuccessResponse, ...errorResponses(401, 403, 503) },
      },
    },
    async (request, reply) => {
      await auth.logoutAll(request.caller.id);
      clearTokenCookie(reply);
      return { status: 'success' as const, message: 'signed out everywhere' };
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags,
        operationId: 'getMe',
        summary: 'The signed-in user, with their team and their role in it',
        response: { 200: SignedInUser, ...errorResponses(401, 403, 503) },
      },
    },
    (request) => users.toSignedInUser(request.caller),
  );
};

/** POST /api/ws/ticket: a single-use ticket for the WebSocket URL, so the token stays out of URLs. */
export const wsTicketRoutes: FastifyPluginAsyncTypebox<{ tickets: TicketIssuer }> = async (app, { tickets }) => {
  app.post(
    '/ticket',
    {
      schema: {
        tags: ['auth'],
        operationId: 'createWsTicket',
        summary: 'A single-use WebSocket ticket, valid 30 s: connect to /api/ws/{user_id}?ticket=<ticket>',
        response: { 200: WsTicketResponse, ...errorResponses(401, 403, 503) },
      },
    },
    async (request) => {
      try {
        const { ticket, expiresIn } = await tickets.issue(request.session);
        return { ticket, expires_in: expiresIn };
      } catch (error) {
        request.log.warn({ err: error }, 'websocket ticket not stored');
        throw unavailable();
      }
    },
  );
};
