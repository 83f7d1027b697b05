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

export const User = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    avatar: Type.Union([Type.String(), Type.Null()]),
    role: Type.Enum(ROLES),
    description: Type.Union([Type.String(), Type.Null()]),
    status: Type.Enum(USER_STATUSES),
    created_at: Type.Integer({ description: 'Unix seconds' }),
  },
  {
    title: 'User',
    description: 'A buyer, merchant, service agent or admin. Never carries a password hash.',
    examples: [
      {
        id: 'm1',
        username: '优选旗舰店',
        avatar: 'https://chat.example.com/api/media/avatars/m1.png',
        role: 'merchant',
        description: '官方旗舰店，工作日 9:00-18:00 在线',
        status: 'active',
        created_at: 1764892800,
      },
    ],
  },
);
export type User = Static<typeof User>;

export const UserList = Paginated(User, 'UserList', 'A page of users');

export const ListUsersQuery = Type.Object({
  role: Type.Optional(
    Type.Enum([...ROLES, 'platform'], {
      description: "Only users of this role (`platform` is the seed's name for service)",
    }),
  ),
  q: Type.Optional(
    Type.String({ maxLength: 100, description: 'Part of the username or id to look for', examples: ['旗舰'] }),
  ),
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
  {
    additionalProperties: false,
    title: 'CreateUserBody',
    description: 'A new user; without `id` the server picks the next one of the role ({letter}{n}).',
    examples: [{ id: 'b3', username: '张小明', role: 'buyer', password: 'secret123' }],
  },
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
  {
    additionalProperties: false,
    title: 'UpdateUserBody',
    description: 'The fields to change; absent fields stay as they are.',
    examples: [{ username: '优选旗舰店', description: '7×24 小时在线客服' }],
  },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const StatusQuery = Type.Object({
  status: Type.Enum(['active', 'inactive'], { description: 'The new status' }),
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
  {
    additionalProperties: false,
    title: 'EnsureUsersBody',
    description: "The host platform's users to create if absent (existing ones are left as they are).",
    examples: [
      {
        users: [
          { id: 'u10086', role: 'buyer', username: '李雷' },
          { id: 's2001', role: 'merchant', username: '韩梅梅的小店' },
        ],
      },
    ],
  },
);
export type EnsureUsersBody = Static<typeof EnsureUsersBody>;

export const ChangePasswordBody = Type.Object(
  { old_password: Type.Optional(Type.String({ maxLength: 200 })), new_password: Password },
  {
    additionalProperties: false,
    title: 'ChangePasswordBody',
    description: "Your own password needs `old_password`; an admin resetting another user's does not.",
    examples: [{ old_password: 'secret123', new_password: 'n3w-secret' }],
  },
);
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;
