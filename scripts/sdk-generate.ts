/**
 * `npm run sdk:generate`: writes packages/sdk/src/generated/openapi.ts from the
 * OpenAPI document of a test app started in-process (the same document the
 * staleness test, test/sdk/openapi-types.test.ts, compares against). Run it
 * after any change to a route or a schema of packages/contracts.
 */
import { writeFileSync } from 'node:fs';
import { openapiTypes } from '../packages/sdk/scripts/openapi-types.ts';
import { GENERATED_TYPES_PATH, openapiDocument } from '../test/helpers/openapi-document.ts';

const document = await openapiDocument();
writeFileSync(GENERATED_TYPES_PATH, await openapiTypes(document));
console.log(`wrote ${GENERATED_TYPES_PATH}`);
