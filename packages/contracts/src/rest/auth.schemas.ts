import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';
import { TEAM_ROLES } from './team.schemas.ts';
import { Avatar, Description, User, Username } from './user.schemas.ts';

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) },
  {
    additionalProperties: false,
    title: 'LoginBody',
    description: 'A username and password',
    examples: [{ username: 'admin', password: 'admin123' }],
  },
);
export type LoginBody = Static<typeof LoginBody>;

/**
 * The OAuth2 password grant (RFC 6749 §4.3), form-encoded: what Swagger UI's
 * "Authorize" and OAuth2 client libraries send. Scope and client credentials are
 * accepted and ignored.
 */
export const OAuth2PasswordForm = Type.Object(
  {
    grant_type: Type.Optional(Type.Literal('password', { description: 'Always `password`' })),
    username: Type.String({ minLength: 1, maxLength: 100 }),
    password: Type.String({ minLength: 1, maxLength: 200 }),
    scope: Type.Optional(Type.String({ maxLength: 1000, description: "Ignored: a token carries its user's role" })),
    client_id: Type.Optional(Type.String({ maxLength: 200, description: 'Ignored' })),
    client_secret: Type.Optional(Type.String({ maxLength: 200, description: 'Ignored' })),
  },
  {
    additionalProperties: false,
    title: 'OAuth2PasswordForm',
    description: 'A username and password, form-encoded, as the OAuth2 password grant sends them',
    examples: [{ grant_type: 'password', username: 'admin', password: 'admin123' }],
  },
);
export type OAuth2PasswordForm = Static<typeof OAuth2PasswordForm>;

/**
 * The signed-in user as the auth endpoints answer it: a `User` plus the caller's own team, so a
 * client knows its team (and its role there) before any conversation arrives. Other users' team
 * fields are not shown: everywhere else a user is a plain `User`.
 */
export const SignedInUser = Type.Object(
  {
    ...User.properties,
    team_id: Type.Union([Type.String(), Type.Null()], {
      description:
        "The team the user answers for (its owner's id; a team's owner has its own id); null for buyers and admins",
    }),
    team_role: Type.Union([Type.Enum(TEAM_ROLES), Type.Null()], {
      description: "The user's role in that team (`owner` for the account the team answers for); null without a team",
    }),
  },
  {
    title: 'SignedInUser',
    description: 'The signed-in user: a `User` with their team and their role in it. Never carries a password hash.',
    examples: [
      {
        id: 'm1a1',
        username: '华润医药-小王',
        avatar: null,
        role: 'merchant',
        description: null,
        status: 'active',
        created_at: 1764892800,
        team_id: 'm1',
        team_role: 'agent',
      },
    ],
  },
);
export type SignedInUser = Static<typeof SignedInUser>;

export const TokenResponse = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('bearer'),
    user: SignedInUser,
  },
  {
    title: 'TokenResponse',
    description:
      'An access token (a JWT) and its user. Send it as `Authorization: Bearer <access_token>`; the login also sets it as the `access_token` cookie.',
    examples: [
      {
        access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiMSIsInNpZCI6IjAxOTNhNmYyIn0.c2lnbmF0dXJl',
        token_type: 'bearer',
        user: {
          id: 'b1',
          username: '张小明',
          avatar: null,
          role: 'buyer',
          description: null,
          status: 'active',
          created_at: 1764892800,
          team_id: null,
          team_role: null,
        },
      },
    ],
  },
);
export type TokenResponse = Static<typeof TokenResponse>;

/** DEBUG=True only: sign in as one of the seeded demo users without a password (the console's one-click pick). */
export const DemoLoginBody = Type.Object(
  { user_id: IdParam },
  {
    additionalProperties: false,
    title: 'DemoLoginBody',
    description: 'The id of a seeded demo user (`npm run setup` seeds them)',
    examples: [{ user_id: 'b1' }],
  },
);
export type DemoLoginBody = Static<typeof DemoLoginBody>;

export const DemoUserList = Type.Array(User, {
  title: 'DemoUserList',
  description: 'The seeded demo users that exist and are active, in the seed order',
});
export type DemoUserList = Static<typeof DemoUserList>;

/** The host platform may mint tokens for chat roles only, never for admins. */
export const PlatformTokenBody = Type.Object(
  {
    user_id: IdParam,
    role: Type.Enum(['buyer', 'merchant', 'service', 'platform']),
    username: Type.Optional(Username),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    team_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 50,
        pattern: '^[A-Za-z0-9_-]+$',
        description:
          "A team (its owner's id) the user is a member of: created in it as an agent on first use; a user of another team is 409",
      }),
    ),
  },
  {
    additionalProperties: false,
    title: 'PlatformTokenBody',
    description: "A host platform's user (created if absent, never an admin) to mint a token for",
    examples: [{ user_id: 'u10086', role: 'buyer', username: '李雷' }],
  },
);
export type PlatformTokenBody = Static<typeof PlatformTokenBody>;

export const ApiKeyHeaders = Type.Object({
  'x-api-key': Type.Optional(Type.String({ description: "The host platform's key (PLATFORM_API_KEY)" })),
});

export const WsTicketResponse = Type.Object(
  {
    /** Use once, within `expires_in` seconds, as `?ticket=` on the WebSocket URL. */
    ticket: Type.String(),
    expires_in: Type.Integer({ description: 'Seconds the ticket stays valid' }),
  },
  {
    title: 'WsTicketResponse',
    description: 'A single-use WebSocket ticket',
    examples: [{ ticket: 'Xq3v9Lr2T0b8Yk1Nw5Hc7Jd4Fs6Gm0Pa', expires_in: 30 }],
  },
);
export type WsTicketResponse = Static<typeof WsTicketResponse>;
