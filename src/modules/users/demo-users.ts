import type { UsersTable } from '../../db/types.ts';

export interface DemoUser {
  id: string;
  username: string;
  role: UsersTable['role'];
  description: string;
  password?: string;
}

/**
 * The seed document's demo marketplace: pharmacies buying from pharmaceutical
 * companies. `npm run setup` (src/cli/seed.ts) inserts them; with DEBUG=True
 * the console signs in as them in one click (POST /api/auth/demo-login).
 */
export const DEMO_USERS: readonly DemoUser[] = [
  { id: 'a2', username: 'admin', role: 'admin', description: '系统管理员', password: 'admin123' },
  { id: 'p1', username: '平台客服', role: 'service', description: '平台客服，工作日 9:00-18:00' },
  { id: 'b1', username: '仁和大药房', role: 'buyer', description: '连锁药店采购' },
  { id: 'b2', username: '康宁药店', role: 'buyer', description: '社区药店' },
  { id: 'm1', username: '华润医药', role: 'merchant', description: '医药批发' },
  { id: 'm2', username: '国药控股', role: 'merchant', description: '医药流通' },
  { id: 'm3', username: '九州通医药', role: 'merchant', description: '医药电商' },
];
