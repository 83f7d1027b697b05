import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { openapiTypes } from '../../packages/sdk/scripts/openapi-types.ts';
import { GENERATED_TYPES_PATH, openapiDocument } from '../helpers/openapi-document.ts';

test("the SDK's generated REST types match the server's OpenAPI document (else: npm run sdk:generate)", async () => {
  const expected = await openapiTypes(await openapiDocument());
  const committed = readFileSync(GENERATED_TYPES_PATH, 'utf8');
  assert.ok(committed === expected, 'packages/sdk/src/generated/openapi.ts is stale: run `npm run sdk:generate`');
  assert.match(committed, /"\/api\/conversations\/\{id\}\/messages": \{/);
});
