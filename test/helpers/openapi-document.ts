import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { testDialects } from './databases.ts';
import { startTestApp } from './test-app.ts';

/** Where the SDK's generated REST types live (committed). */
export const GENERATED_TYPES_PATH = fileURLToPath(
  new URL('../../packages/sdk/src/generated/openapi.ts', import.meta.url),
);

/** The server's /api/openapi.json, from a test app on SQLite (the document does not depend on the dialect). */
export async function openapiDocument(): Promise<unknown> {
  const sqlite = testDialects.find((dialect) => dialect.name === 'sqlite');
  assert.ok(sqlite);
  const app = await startTestApp(sqlite);
  try {
    const response = await app.client.get('/api/openapi.json');
    assert.equal(response.status, 200);
    return response.body;
  } finally {
    await app.close();
  }
}
