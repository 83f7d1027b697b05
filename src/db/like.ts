import { sql } from 'kysely';

/**
 * Case-insensitive LIKE with '!' as the escape character (the only escape
 * spelling MySQL and SQLite both accept). Both sides go through lower(): the
 * columns use a binary collation on MySQL/MariaDB, where LIKE alone would be
 * case-sensitive. SQLite's lower() folds ASCII letters only (as its LIKE does);
 * MySQL's folds every letter.
 */
export function likeFolded(column: string, pattern: string) {
  return sql<boolean>`lower(${sql.ref(column)}) like lower(${pattern}) escape '!'`;
}

/** `value` with LIKE's wildcards (and the escape character) escaped, to match itself. */
export function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, (c) => `!${c}`);
}
