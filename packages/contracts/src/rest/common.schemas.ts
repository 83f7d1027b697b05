import Type, { type Static, type TSchema } from 'typebox';

/** Ids the server generates ({letter}{n}, UUIDs) and ids a host platform supplies. */
export const IdParam = Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$' });
export const UuidOrId = Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_-]+$' });

export const IdParams = Type.Object({ id: UuidOrId });
export const UserIdParams = Type.Object({ user_id: IdParam });

export const ErrorResponse = Type.Object(
  {
    detail: Type.String(),
    error_type: Type.String(),
    errors: Type.Optional(Type.Array(Type.String())),
    error_message: Type.Optional(Type.String()),
    traceback: Type.Optional(Type.Array(Type.String())),
  },
  { description: 'Every error: a human message (zh by default, en with Accept-Language: en) and a stable code' },
);

export const SuccessResponse = Type.Object({
  status: Type.Literal('success'),
  message: Type.Optional(Type.String()),
});
export type SuccessResponse = Static<typeof SuccessResponse>;

export const MAX_PAGE_SIZE = 100;

export function pageQuery(defaultPageSize: number) {
  return {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: defaultPageSize })),
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

export function Paginated<T extends TSchema>(item: T) {
  return Type.Object({
    count: Type.Integer({ minimum: 0 }),
    count_exact: Type.Optional(
      Type.Boolean({
        description:
          'Present (false) only when `count` stopped at the counting bound (10,000): there are at least that many matches. Absent: `count` is exact.',
      }),
    ),
    results: Type.Array(item),
  });
}

/** The error responses a route can give, for its OpenAPI entry and serialiser. */
export function errorResponses(...codes: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(codes.map((code) => [code, ErrorResponse]));
}
