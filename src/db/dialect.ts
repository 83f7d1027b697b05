import { type Kysely, MysqlAdapter } from 'kysely';

/** True when the handle (or transaction) talks to MySQL/MariaDB rather than SQLite. */
export function isMysql(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof MysqlAdapter;
}
