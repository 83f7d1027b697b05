import Type, { type Static, type TSchema } from 'typebox';

/*
 * Named schemas: a schema with a `title` (User, Message, ErrorResponse...) is one
 * component of the OpenAPI document under that name, referenced wherever it is used
 * (src/http/openapi.ts). Not `$id`: Fastify's response serialiser compiles a route's
 * schema as one document, where a schema used twice (a conversation's four users)
 * would be two schemas with one `$id`, which it refuses. A title must be unique
 * across the contracts: two different schemas with one title fail the document test.
 */

/** Ids the server generates ({letter}{n}, UUIDs) and ids a host platform supplies. */
export const IdParam = Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$' });
export const UuidOrId = Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$' });

/** An optional id in a query string that narrows a list, described for the document. */
export const idFilter = (description: string) =>
  Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$', description }));

export const IdParams = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[A-Za-z0-9_-]+$',
    description:
      'The id of the resource (a UUIDv7 for conversations, messages and quick replies, e.g. 0193a6f2-7c1e-7b3a-9d4e-2f6a8b1c3d5e; a user id such as b1 for users)',
  }),
});
export const UserIdParams = Type.Object({
  user_id: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[A-Za-z0-9_-]+$',
    description:
      "A user id: {letter}{n} for users made here (b1 buyer, m1 merchant, p1 service, a1 admin), or a host platform's id",
    examples: ['b1'],
  }),
});

export const ErrorResponse = Type.Object(
  {
    detail: Type.String(),
    error_type: Type.String(),
    errors: Type.Optional(Type.Array(Type.String())),
    error_message: Type.Optional(Type.String()),
    traceback: Type.Optional(Type.Array(Type.String())),
  },
  {
    title: 'ErrorResponse',
    description: 'Every error: a human message (zh by default, en with Accept-Language: en) and a stable code',
  },
);

export const SuccessResponse = Type.Object(
  {
    status: Type.Literal('success'),
    message: Type.Optional(Type.String()),
  },
  { title: 'SuccessResponse', description: 'Done', examples: [{ status: 'success', message: 'signed out' }] },
);
export type SuccessResponse = Static<typeof SuccessResponse>;

export const MAX_PAGE_SIZE = 100;

export function pageQuery(defaultPageSize: number) {
  return {
    page: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: 'The page to return, from 1' }),
    ),
    page_size: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_PAGE_SIZE,
        default: defaultPageSize,
        description: `Items per page (default ${defaultPageSize}, at most ${MAX_PAGE_SIZE})`,
      }),
    ),
  };
}

export interface Page {
  page: number;
  pageSize: number;
}

export function pageOf(
  query: { page?: number | undefined; page_size?: number | undefined },
  defaultPageSize: number,
): Page {
  return { page: query.page ?? 1, pageSize: query.page_size ?? defaultPageSize };
}

/** A page of a list; `title` names it in the OpenAPI document (see the note on named schemas at the top). */
export function Paginated<T extends TSchema>(item: T, title?: string, description?: string) {
  return Type.Object(
    {
      count: Type.Integer({ minimum: 0 }),
      count_exact: Type.Optional(
        Type.Boolean({
          description:
            'Present (false) only when `count` stopped at the counting bound (10,000): there are at least that many matches. Absent: `count` is exact.',
        }),
      ),
      results: Type.Array(item),
    },
    { ...(title !== undefined ? { title } : {}), description: description ?? 'A page of results' },
  );
}

/** The error responses a route can give, for its OpenAPI entry and serialiser. */
export function errorResponses(...codes: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(codes.map((code) => [code, ErrorResponse]));
}
