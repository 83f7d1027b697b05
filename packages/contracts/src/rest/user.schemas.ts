import Type, { type Static } from 'typebox';
import { IdParam, Paginated, pageQuery } from './common.schemas.ts';

export const ROLES = ['buyer', 'merchant', 'service', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** Input also accepts the seed's legacy spelling of the service role. */
export const RoleInput = Type.Enum([...ROLES, 'platform']);
export type RoleInput = Static<typeof RoleInput>;
export const normaliseRole = (role: RoleInput): Role => (role === 'platform' ? 'service' : role);

export const ROLE_LETTER: Record<Role, string> = { buyer: 'b', merchant: 'm', service: 'p', admin: 'a' };
export const ROLE_NAME_ZH: Record<Role, string> = { buyer: '买家', merchant: '商家', service: '客服', admin: '管理员' };

export const USER_STATUSES = ['active', 'inactive', 'deleted'] as const;

export const Username = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });
export const Password = Type.String({ minLength: 6, maxLength: 200 });
export const Avatar = Type.String({ maxLength: 500, pattern: '^(https?://|/api/media/)[^\\s]*$' });
export const Description = Type.String({ maxLength: 1000 });

export const User = Type.Object({
  id: Type.String(),
  username: Type.String(),
  avatar: Type.Union([Type.String(), Type.Null()]),
  role: Type.Enum(ROLES),
  description: Type.Union([Type.String(), Type.Null()]),
  status: Type.Enum(USER_STATUSES),
  created_at: Type.Integer(),
});
export type User = Static<typeof User>;

export const UserList = Paginated(User);

export const ListUsersQuery = Type.Object({
  role: Type.Optional(RoleInput),
  q: Type.Optional(Type.String({ maxLength: 100 })),
  ...pageQuery(20),
});

export const CreateUserBody = Type.Object(
  {
    id: Type.Optional(IdParam),
    username: Username,
    role: RoleInput,
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    status: Type.Optional(Type.Enum(['active', 'inactive'])),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const UpdateUserBody = Type.Object(
  {
    username: Type.Optional(Username),
    avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    role: Type.Optional(RoleInput),
    status: Type.Optional(Type.Enum(['active', 'inactive'])),
  },
  { additionalProperties: false },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const StatusQuery = Type.Object({
  status: Type.Enum(['active', 'inactive']),
});

export const EnsureUsersBody = Type.Object(
  {
    users: Type.Array(
      Type.Object(
        {
          id: IdParam,
          role: RoleInput,
          username: Type.Optional(Username),
          avatar: Type.Optional(Type.Union([Avatar, Type.Null()])),
          description: Type.Optional(Type.Union([Description, Type.Null()])),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
  },
  { additionalProperties: false },
);
export type EnsureUsersBody = Static<typeof EnsureUsersBody>;

export const ChangePasswordBody = Type.Object(
  { old_password: Type.Optional(Type.String({ maxLength: 200 })), new_password: Password },
  { additionalProperties: false },
);
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;
