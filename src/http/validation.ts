import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/** A query/path/header integer as text: digits only, so "1.5", "true", "0x10" or "" are refused. */
const INTEGER_TEXT = /^-?\d{1,15}$/;

/**
 * At most this many ill-formed strings are named in a refusal: one is enough
 * to refuse, and a frame (unknown fields are tolerated there) packed with
 * thousands must not get back an answer several times its own size.
 */
const MAX_ILL_FORMED_REPORTED = 10;

/**
 * Whether every string in `value` (object keys included) is well-formed
 * UTF-16. Allocates nothing: it runs on every body and frame, sends included.
 */
function wellFormedThroughout(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!wellFormedThroughout(item)) return false;
    return true;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!key.isWellFormed() || !wellFormedThroughout((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/**
 * JSON pointers of the strings in `value` (object keys included) that are not
 * well-formed UTF-16, the first MAX_ILL_FORMED_REPORTED of them: a lone
 * surrogate ("\uD800") parses from JSON but has no UTF-8 form, so the
 * database would store U+FFFD in its place and a retry of the same text would
 * no longer match what was stored (a false 409). Every user-supplied string
 * goes through this, REST bodies, query strings, path parameters and
 * WebSocket frames alike.
 */
export function illFormedStrings(value: unknown): string[] {
  if (wellFormedThroughout(value)) return [];
  const found: string[] = [];
  const visit = (item: unknown, at: string): void => {
    if (found.length >= MAX_ILL_FORMED_REPORTED) return;
    if (typeof item === 'string') {
      if (!item.isWellFormed()) found.push(at);
      return;
    }
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) return;
    for (const [key, child] of Object.entries(item)) {
      const path = `${at}/${key}`;
      if (!key.isWellFormed() && found.length < MAX_ILL_FORMED_REPORTED) found.push(path);
      visit(child, path);
    }
  };
  visit(value, '');
  return found;
}

/** Schema-validation issues for illFormedStrings' findings, in Fastify's shape. */
export function illFormedIssues(value: unknown): FastifySchemaValidationError[] {
  return illFormedStrings(value).map((instancePath) => ({
    keyword: 'wellFormed',
    instancePath,
    schemaPath: '#',
    params: {},
    message: 'must be well-formed Unicode (no lone surrogate)',
  }));
}

type Validate = (value: unknown) => { value?: unknown; error?: FastifySchemaValidationError[] | Error | undefined };

/**
 * The validator, also refusing ill-formed strings once the schema accepted the
 * value (so the walk is only as deep as a schema allows).
 */
function refusingIllFormed(validate: Validate): Validate {
  return (value) => {
    const result = validate(value);
    if (result.error !== undefined) return result;
    const issues = illFormedIssues(value);
    return issues.length > 0 ? { error: issues } : result;
  };
}

/**
 * TypeBox's validator for bodies; for query strings, params and headers our
 * own conversion instead of TypeBox's generic one. Those parts are flat
 * objects of strings where only integers need converting, and TypeBox's
 * conversion both builds a regular expression per property on every request
 * (a tenth of a history page's CPU in the profile) and is lax: it would turn
 * "1.5" into 1 and "true" into 1, so a malformed value would be served
 * instead of answered with a 422. Here an integer must be digits only.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  if (route.httpPart === 'body') return refusingIllFormed(TypeBoxValidatorCompiler(route) as Validate);
  const schema = route.schema as TSchema;
  const check = Compile(schema);
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const integerKeys = Object.keys(properties).filter((key) => properties[key]?.type === 'integer');
  return refusingIllFormed((value) => {
    if (integerKeys.length > 0 && value !== null && typeof value === 'object') {
      const fields = value as Record<string, unknown>;
      const errors: FastifySchemaValidationError[] = integerKeys
        .filter((key) => {
          const raw = fields[key];
          return raw !== undefined && (typeof raw !== 'string' || !INTEGER_TEXT.test(raw));
        })
        .map((key) => ({
          keyword: 'type',
          instancePath: `/${key}`,
          schemaPath: `#/properties/${key}/type`,
          params: { type: 'integer' },
          message: 'must be integer',
        }));
      if (errors.length > 0) return { error: errors };
      // Fastify's parsed query, params and headers are fresh objects per request: converted in place.
      for (const key of integerKeys) if (fields[key] !== undefined) fields[key] = Number(fields[key]);
    }
    return check.Check(value) ? { value } : { error: check.Errors(value) as unknown as FastifySchemaValidationError[] };
  });
};
