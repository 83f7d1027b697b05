import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';

/** A query/path/header integer as text: digits only, so "1.5", "true", "0x10" or "" are refused. */
const INTEGER_TEXT = /^-?\d{1,15}$/;

/**
 * TypeBox's validator, but strict about integers in query strings, params and
 * headers: TypeBox's conversion would turn "1.5" into 1 and "true" into 1, so
 * a malformed value would be served instead of answered with a 422.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const validate = TypeBoxValidatorCompiler(route);
  if (route.httpPart === 'body') return validate;
  const properties = (route.schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const integerKeys = Object.keys(properties).filter((key) => properties[key]?.type === 'integer');
  if (integerKeys.length === 0) return validate;
  return (value: unknown) => {
    if (value !== null && typeof value === 'object') {
      const errors: FastifySchemaValidationError[] = integerKeys
        .filter((key) => {
          const raw = (value as Record<string, unknown>)[key];
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
    }
    return validate(value);
  };
};
