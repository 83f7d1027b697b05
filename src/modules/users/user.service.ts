import { randomBytes } from 'node:crypto';
import type { SignedInUser } from '@cs-chat/contracts/rest/auth.schemas';
import type { Page } from '@cs-chat/contracts/rest/common.schemas';
import {
  type ChangePasswordBody,
  type CreateUserBody,
  type EnsureUsersBody,
  normaliseRole,
  ROLE_LETTER,
  ROLE_NAME_ZH,
  type Role,
  type RoleInput,
  type UpdateUserBody,
  type User,
} from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import { inTransaction, type Tx } from '../../db/transaction.ts';
import type { Database, NewUserRow, UserRow, UserUpdate } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { badRequest, conflict, notFound, tooMany, unprocessable } from '../../lib/errors.ts';
import { toAbsoluteUrl, toStoredPath } from '../../lib/media-url.ts';
import { hashPassword, verifyPassword } from '../../lib/password.ts';
import { nowSeconds } from '../../lib/time.ts';
import { DIRECTORY_ROLES } from '../access/access.policy.ts';
import type { AccessService } from '../access/access.service.ts';
import type { FailureLimiter } from '../auth/throttle-store.ts';
import { defaultAvatarPath } from '../media/avatars.ts';
import * as repo from './user.repository.ts';
import type { UserCache } from './user-cache.ts';
import { checkUsername } from './usernames.ts';

const ID_GENERATION_ATTEMPTS = 5;
const DEFAULT_USERNAME_ATTEMPTS = 5;

export interface UserServiceDeps {
  db: Kysely<Database>;
  baseUrl: string;
  /** Told when a user's sessions end or the user is disabled. */
  events: EventPublisher;
  access: AccessService;
  /** Authentication's cache of user rows: every change here makes it forget the row. */
  cache: UserCache;
  /** Slows non-admins renaming onto taken usernames (a 409 says the name exists). */
  usernameChecks?: FailureLimiter;
}

/** The username to store for an account of `role` (NFKC, no hidden characters, no staff look-alike), or 422. */
function storedUsername(raw: string, role: Role): string {
  const verdict = checkUsername(raw, role);
  if (!verdict.ok) {
    const why =
      verdict.error === 'username_reserved'
        ? 'imitates platform staff (reserved for service and admin accounts)'
        : 'has invisible, control or bidirectional-control characters';
    throw unprocessable(verdict.error, [`body.username: ${why}`]);
  }
  return verdict.username;
}

export type UserService = ReturnType<typeof createUserService>;

/** What makes a new user a member of a team rather than the owner of a team of one. */
export type TeamFields = Required<Pick<NewUserRow, 'team_id' | 'team_role'>>;

export function createUserService({ db, baseUrl, events, access, cache, usernameChecks }: UserServiceDeps) {
  /** In a transaction, the cache forgets the row once it commits: earlier, it could read the old row back. */
  async function updateUser(id: string, changes: UserUpdate, tx?: Tx): Promise<void> {
    await repo.updateUser(tx?.db ?? db, id, changes);
    if (tx) tx.afterCommit(() => cache.forget(id));
    else cache.forget(id);
  }

  /**
   * Every token of the user issued until now stops working: the moment rides
   * on the user's (cached) row, and the bus makes every instance forget that
   * row and close the user's sockets with 4401.
   */
  async function endAllSessions(id: string, changes: UserUpdate = {}): Promise<void> {
    const now = Date.now();
    await updateUser(id, { ...changes, tokens_valid_after: now });
    events.publish('sessions.revoked', { userId: id, issuedBefore: now });
  }

  const toUser = (
    row: Pick<UserRow, 'id' | 'username' | 'avatar' | 'role' | 'description' | 'status' | 'created_at'>,
  ): User => ({
    id: row.id,
    username: row.username,
    avatar: toAbsoluteUrl(row.avatar, baseUrl),
    role: row.role,
    description: row.description,
    status: row.status,
    created_at: Number(row.created_at),
  });

  /** The signed-in user as the auth endpoints answer it: with their own team and role in it. */
  const toSignedInUser = (
    row: Parameters<typeof toUser>[0] & Pick<UserRow, 'team_id' | 'team_role'>,
  ): SignedInUser => ({
    ...toUser(row),
    team_id: row.team_id,
    team_role: row.team_role,
  });

  const storedAvatar = (avatar: string | null | undefined) =>
    avatar === undefined ? undefined : avatar === null ? null : toStoredPath(avatar, baseUrl);

  /** The user, if the caller may `action` them (access.policy.ts: 404 for those they may not see, else 403). */
  async function accessibleUser(
    caller: UserRow,
    id: string,
    action: 'user.view' | 'user.update' | 'user.manage',
  ): Promise<UserRow> {
    const target = await repo.findUserById(db, id);
    if (!target) throw notFound('user_not_found');
    await access.requireAccess(caller, action, { user: target });
    return target;
  }

  async function requireUser(id: string, tx?: Tx): Promise<UserRow> {
    const user = await repo.findUserById(tx?.db ?? db, id);
    if (!user) throw notFound('user_not_found');
    return user;
  }

  /** Inserts a user, turning key violations into the matching 409. */
  async function insert(row: Parameters<typeof repo.insertUser>[1]): Promise<void> {
    try {
      await repo.insertUser(db, row);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (await repo.findUserById(db, row.id)) throw conflict('user_id_taken');
      throw conflict('username_taken');
    }
  }

  async function nextGeneratedId(role: Role): Promise<string> {
    const letter = ROLE_LETTER[role];
    return `${letter}${(await repo.highestGeneratedNumber(db, letter)) + 1}`;
  }

  // Generated ids are handed out one at a time in this process, so concurrent
  // creates do not all race for the same number; the retries below cover other processes.
  let idGeneration: Promise<unknown> = Promise.resolve();

  function createWithGeneratedId(row: Omit<Parameters<typeof repo.insertUser>[1], 'id'>): Promise<string> {
    const task = () => insertWithGeneratedId(row);
    const run = idGeneration.then(task, task);
    idGeneration = run.catch(() => undefined);
    return run;
  }

  async function insertWithGeneratedId(row: Omit<Parameters<typeof repo.insertUser>[1], 'id'>): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const id = await nextGeneratedId(row.role);
      try {
        await repo.insertUser(db, { ...row, id });
        return id;
      } catch (error) {
        // Another request took the same number; try the next one.
        if (!isUniqueViolation(error) || attempt >= ID_GENERATION_ATTEMPTS) {
          if (isUniqueViolation(error) && (await repo.usernameInUse(db, row.username))) {
            throw conflict('username_taken');
          }
          throw error;
        }
        if (await repo.usernameInUse(db, row.username)) throw conflict('username_taken');
      }
    }
  }

  return {
    toUser,
    toSignedInUser,
    endAllSessions,

    async list(
      caller: UserRow,
      query: { role?: RoleInput | undefined; q?: string | undefined },
      page: Page,
    ): Promise<{ count: number; count_exact?: boolean; results: User[] }> {
      const role = query.role ? normaliseRole(query.role) : undefined;
      let filter: repo.UserFilter;
      if (role) access.require(caller, 'user.list_role', { role });
      if (access.allowsNow(caller, 'realtime.watch_all')) {
        filter = { ...(role ? { roles: [role] } : {}) };
      } else {
        filter = { roles: role ? [role] : DIRECTORY_ROLES, statuses: ['active'] };
      }
      if (query.q) filter.search = query.q;
      const { count, exact, rows } = await repo.listUsers(db, filter, page.pageSize, (page.page - 1) * page.pageSize);
      return { count, ...(exact ? {} : { count_exact: false }), results: rows.map(toUser) };
    },

    async get(caller: UserRow, id: string): Promise<User> {
      return toUser(await accessibleUser(caller, id, 'user.view'));
    },

    /** A new user; `team` makes them a member of a team (issue 13) instead of the owner of their own. */
    async create(body: CreateUserBody, team?: TeamFields): Promise<User> {
      const now = nowSeconds();
      const role = normaliseRole(body.role);
      const row = {
        ...team,
        username: storedUsername(body.username, role),
        role,
        avatar: storedAvatar(body.avatar) ?? null,
        description: body.description ?? null,
        status: body.status ?? 'active',
        password_hash: body.password ? await hashPassword(body.password) : null,
        created_at: now,
        updated_at: now,
      } as const;
      let id = body.id;
      if (id) await insert({ ...row, id });
      else id = await createWithGeneratedId(row);
      return toUser(await requireUser(id));
    },

    async update(caller: UserRow, id: string, body: UpdateUserBody): Promise<User> {
      const manages = body.role !== undefined || body.status !== undefined;
      const target = await accessibleUser(caller, id, manages ? 'user.manage' : 'user.update');
      const isAdmin = caller.role === 'admin';
      const role = body.role ? normaliseRole(body.role) : undefined;
      if (role && role !== target.role && (await repo.hasConversations(db, id))) {
        throw badRequest('role_change_not_allowed');
      }
      if (body.status === 'inactive' && caller.id === id) throw badRequest('cannot_modify_self');
      const username = body.username !== undefined ? storedUsername(body.username, role ?? target.role) : undefined;
      // Demoting a service account that keeps its staff name would leave a look-alike behind.
      if (username === undefined && role && role !== target.role) storedUsername(target.username, role);
      // A rename answers 409 when the name is taken: without a limit, a directory of every username.
      const limited = username !== undefined && username !== target.username && !isAdmin ? usernameChecks : undefined;
      // Counted before the write (renames raced at once cannot all pass); a rename that works takes it back.
      const wait = limited ? await limited.begin(caller.id) : 0;
      if (wait > 0) throw tooMany('too_many_username_checks', wait);
      const changes = {
        ...(username !== undefined ? { username } : {}),
        ...(body.avatar !== undefined ? { avatar: storedAvatar(body.avatar) } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(role ? { role } : {}),
        ...(body.status ? { status: body.status } : {}),
        // A reactivated user's old tokens stay dead.
        ...(body.status === 'inactive' ? { tokens_valid_after: Date.now() } : {}),
        updated_at: nowSeconds(),
      };
      try {
        await updateUser(id, changes);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw conflict('username_taken');
      }
      await limited?.succeeded(caller.id);
      if (body.status === 'inactive' && target.status !== 'inactive') events.publish('user.disabled', { userId: id });
      return toUser(await requireUser(id));
    },

    async setStatus(caller: UserRow, id: string, status: 'active' | 'inactive', tx?: Tx): Promise<User> {
      const target = await requireUser(id, tx);
      if (caller.id === id) throw badRequest('cannot_modify_self');
      return inTransaction(db, tx, async (t) => {
        const changes = {
          status,
          // A reactivated user's old tokens stay dead.
          ...(status === 'inactive' ? { tokens_valid_after: Date.now() } : {}),
          updated_at: nowSeconds(),
        };
        await updateUser(id, changes, t);
        if (status === 'inactive' && target.status !== 'inactive')
          t.afterCommit(() => events.publish('user.disabled', { userId: id }));
        return toUser(await requireUser(id, t));
      });
    },

    async softDelete(caller: UserRow, id: string, tx?: Tx): Promise<void> {
      await requireUser(id, tx);
      if (caller.id === id) throw badRequest('cannot_modify_self');
      await inTransaction(db, tx, async (t) => {
        await updateUser(id, { status: 'deleted', tokens_valid_after: Date.now(), updated_at: nowSeconds() }, t);
        t.afterCommit(() => events.publish('user.disabled', { userId: id }));
      });
    },

    /**
     * A team member's role, availability or capacity (the team module decides who may); the
     * authentication cache forgets the row, so the next request sees the change.
     */
    async updateMembership(id: string, changes: Partial<Pick<UserRow, 'team_role' | 'available' | 'max_open'>>) {
      await updateUser(id, { ...changes, updated_at: nowSeconds() });
    },

    /**
     * Creates the users that do not exist yet (members of `team` when given); existing ones are
     * returned unchanged.
     */
    async ensure(body: EnsureUsersBody, team?: TeamFields): Promise<User[]> {
      const existing = new Map(
        (
          await repo.findUsersByIds(
            db,
            body.users.map((u) => u.id),
          )
        ).map((u) => [u.id, u]),
      );
      // Every new name is checked before anything is written: a 422 leaves no user half-created.
      const chosen = new Map(
        body.users
          .filter((spec) => !existing.has(spec.id) && spec.username !== undefined)
          .map((spec) => [spec.id, storedUsername(spec.username ?? '', normaliseRole(spec.role))]),
      );
      for (const [index, spec] of body.users.entries()) {
        if (existing.has(spec.id)) continue;
        const role = normaliseRole(spec.role);
        for (let attempt = 1; ; attempt++) {
          const now = nowSeconds();
          // A retry adds a random part: two requests in one millisecond make the same default name.
          const retry = attempt > 1 ? `_${randomBytes(3).toString('hex')}` : '';
          const username =
            chosen.get(spec.id) ?? `${ROLE_NAME_ZH[role]}${Date.now()}${index > 0 ? `_${index}` : ''}${retry}`;
          try {
            await repo.insertUser(db, {
              ...team,
              id: spec.id,
              username,
              role,
              avatar: storedAvatar(spec.avatar) ?? defaultAvatarPath(role),
              description: spec.description ?? null,
              status: 'active',
              password_hash: null,
              created_at: now,
              updated_at: now,
            });
            break;
          } catch (error) {
            if (!isUniqueViolation(error)) throw error;
            // A concurrent ensure created the same id: that row is as good as ours.
            if (await repo.findUserById(db, spec.id)) break;
            if (spec.username !== undefined || attempt >= DEFAULT_USERNAME_ATTEMPTS) throw conflict('username_taken');
          }
        }
      }
      const rows = new Map(
        (
          await repo.findUsersByIds(
            db,
            body.users.map((u) => u.id),
          )
        ).map((u) => [u.id, u]),
      );
      return body.users.map((u) => {
        const row = rows.get(u.id);
        if (!row) throw notFound('user_not_found');
        return toUser(row);
      });
    },

    async changePassword(caller: UserRow, id: string, body: ChangePasswordBody): Promise<void> {
      const target = await accessibleUser(caller, id, 'user.update');
      if (!access.allowsNow(caller, 'user.reset_password')) {
        if (body.old_password === undefined) throw badRequest('old_password_required');
        if (!(await verifyPassword(body.old_password, target.password_hash))) throw badRequest('wrong_old_password');
      }
      // A stolen token must not outlive the password it was stolen with.
      await endAllSessions(id, { password_hash: await hashPassword(body.new_password), updated_at: nowSeconds() });
    },
  };
}
