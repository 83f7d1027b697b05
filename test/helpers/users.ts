import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import type { Kysely } from 'kysely';
import type { Database, NewUserRow } from '../../src/db/types.ts';
import { insertUser } from '../../src/modules/users/user.repository.ts';

/**
 * Inserts an active user straight into the database, as every test harness
 * does to set up its people: username `user-<id>` unless overridden.
 */
export async function insertTestUser(
  db: Kysely<Database>,
  id: string,
  role: Role,
  overrides: Partial<Omit<NewUserRow, 'id' | 'role'>> = {},
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await insertUser(db, {
    id,
    username: `user-${id}`,
    role,
    status: 'active',
    avatar: null,
    description: null,
    password_hash: null,
    created_at: now,
    updated_at: now,
    ...overrides,
  });
}
