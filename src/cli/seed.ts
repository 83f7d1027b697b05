import type { Kysely } from 'kysely';
import type { Database, UsersTable } from '../db/types.ts';
import { uuidv7 } from '../lib/ids.ts';
import { hashPassword } from '../lib/password.ts';
import { nowSeconds } from '../lib/time.ts';
import { defaultAvatarPath } from '../modules/media/avatars.ts';
import { DEMO_USERS } from '../modules/users/demo-users.ts';
import { insertUser } from '../modules/users/user.repository.ts';

const QUICK_REPLIES: Record<Exclude<UsersTable['role'], 'admin'>, readonly string[]> = {
  buyer: ['请问这个药品有货吗？', '能否开具发票？', '大概什么时候发货？'],
  merchant: ['您好，有什么可以帮您？', '现货充足，今天下单今天发货。', '可以开具增值税专用发票。'],
  service: ['您好，平台客服为您服务。', '请提供您的订单号，我们马上为您查询。', '感谢您的耐心等待。'],
};

/** Inserts the demo users and their quick replies; running it again changes nothing. */
export async function seedDemoData(db: Kysely<Database>, log: (line: string) => void = () => {}): Promise<void> {
  const now = nowSeconds();
  for (const [index, user] of DEMO_USERS.entries()) {
    const progress = `[${index + 1}/${DEMO_USERS.length}]`;
    const existing = await db.selectFrom('users').select('id').where('id', '=', user.id).executeTakeFirst();
    if (existing) {
      log(`${progress} ${user.id} (${user.username}) already present`);
    } else {
      await insertUser(db, {
        ...(user.team ? { team_id: user.team.id, team_role: user.team.role } : {}),
        id: user.id,
        username: user.username,
        role: user.role,
        description: user.description,
        avatar: defaultAvatarPath(user.role),
        status: 'active',
        password_hash: user.password ? await hashPassword(user.password) : null,
        created_at: now,
        updated_at: now,
      });
      const signIn = user.password ? `; password: ${user.password}` : '';
      const member = user.team ? ` ${user.team.role} of team ${user.team.id}` : '';
      log(`${progress} created ${user.role}${member} ${user.id} (${user.username})${signIn}`);
    }
    if (user.role === 'admin' || user.team) continue;
    const replies = await db.selectFrom('quick_replies').select('id').where('user_id', '=', user.id).limit(1).execute();
    if (replies.length > 0) continue;
    await db
      .insertInto('quick_replies')
      .values(
        QUICK_REPLIES[user.role].map((content, sortOrder) => ({
          id: uuidv7(),
          user_id: user.id,
          content,
          sort_order: sortOrder,
          is_active: 1,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    log(`${progress} added ${QUICK_REPLIES[user.role].length} quick replies for ${user.id}`);
  }
}
