import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { MYSQL_SKIP_REASON, TEST_MYSQL_URL } from './helpers/databases.ts';

// Every integration suite runs once per dialect; this line says, once, whether MySQL is among them.
test('MySQL/MariaDB server for the dialect suites answers', { skip: MYSQL_SKIP_REASON }, async () => {
  const connection = await createConnection(TEST_MYSQL_URL ?? '');
  const [rows] = await connection.query('SELECT 1 + 1 AS two');
  await connection.end();
  assert.deepEqual(rows, [{ two: 2 }]);
});
