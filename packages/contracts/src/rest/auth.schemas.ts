import Type, { type Static } from 'typebox';
import { IdParam } from './common.schemas.ts';
import { Avatar, Description, User, Username } from './user.schemas.ts';

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('bearer'),
  user: User,
});
export type TokenResponse = Static<typeof TokenResponse>;

/** The host platform may mint tokens for chat roles only, never for admins. */
export const PlatformTokenBody = Type.Object(
  {
    user_id: IdParam,
    role: Type.Enum(['buyer', 'merchant', 'service', 'platform']),
    username: Type.Optional(Username),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
  },
  { additionalProperties: false },
);
export type PlatformTokenBody = Static<typeof PlatformTokenBody>;

export const ApiKeyHeaders = Type.Object({ 'x-api-key': Type.Optional(Type.String()) });

export const WsTicketResponse = Type.Object({
  /** Use once, within `expires_in` seconds, as `?ticket=` on the WebSocket URL. */
  ticket: Type.String(),
  expires_in: Type.Integer(),
});
export type WsTicketResponse = Static<typeof WsTicketResponse>;
