import { type CreateTableBuilder, type Kysely, MysqlAdapter, sql } from 'kysely';

export function isMysql(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof MysqlAdapter;
}

/**
 * Table options for MySQL: InnoDB and utf8mb4 with a binary collation, so ids
 * and usernames compare exactly as they do on SQLite ("B1" is not "b1").
 */
export function tableOptions(db: Kysely<any>) {
  return <T extends string, C extends string>(builder: CreateTableBuilder<T, C>) =>
    isMysql(db) ? builder.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`) : builder;
}
