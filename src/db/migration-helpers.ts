import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import { isMysql } from './dialect.ts';

export { isMysql };

/**
 * Table options for MySQL: InnoDB and utf8mb4 with a binary collation, so ids
 * and usernames compare exactly as they do on SQLite ("B1" is not "b1").
 */
export function tableOptions(db: Kysely<any>) {
  return <T extends string, C extends string>(builder: CreateTableBuilder<T, C>) =>
    isMysql(db) ? builder.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`) : builder;
}
