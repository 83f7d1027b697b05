import type { UsersTable } from '../../db/types.ts';

export interface DemoUser {
  id: string;
  username: string;
  role: UsersTable['role'];
  description: string;
  password?: string;
  /** A member of this team (its owner's id) rather than the owner of a team of one. */
  team?: { id: string; role: 'supervisor' | 'agent' };
}

/**
 * The seed document's demo marketplace: pharmacies buying from pharmaceutical
 * companies, with the staff of the shop m1 and of the platform desk (issue 13).
 * `npm run setup` (src/cli/seed.ts) inserts them; with DEBUG=True the console
 * signs in as them in one click (POST /api/auth/demo-login).
 */
export const DEMO_USERS: readonly DemoUser[] = [
  { id: 'a2', username: 'admin', role: 'admin', description: '系统管理员', password: 'admin123' },
  { id: 'p1', username: '平台客服', role: 'service', description: '平台客服，工作日 9:00-18:00' },
  { id: 'b1', username: '仁和大药房', role: 'buyer', description: '连锁药店采购' },
  { id: 'b2', username: '康宁药店', role: 'buyer', description: '社区药店' },
  { id: 'm1', username: '华润医药', role: 'merchant', description: '医药批发' },
  { id: 'm2', username: '国药控股', role: 'merchant', description: '医药流通' },
  { id: 'm3', username: '九州通医药', role: 'merchant', description: '医药电商' },
  // Teams (README, "Teams"): the shop m1's staff and the platform desk's agents, who sign in with a password.
  ...(
    [
      ['m1s1', '华润医药-李主管', 'merchant', 'm1', 'supervisor'],
      ['m1a1', '华润医药-小王', 'merchant', 'm1', 'agent'],
      ['m1a2', '华润医药-小张', 'merchant', 'm1', 'agent'],
      ['p1a1', '平台客服-小陈', 'service', 'p1', 'agent'],
      ['p1a2', '平台客服-小刘', 'service', 'p1', 'agent'],
    ] as const
  ).map(([id, username, role, team, teamRole]) => ({
    id,
    username,
    role,
    description: teamRole === 'supervisor' ? '客服主管' : '客服专员',
    password: `${id}pass`,
    team: { id: team, role: teamRole },
  })),
];
