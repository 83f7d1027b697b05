/**
 * Well-formed Unicode in user-supplied values: the server refuses lone
 * surrogates in REST input and WebSocket frames alike, and a client can check
 * before it sends.
 */

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

/** One schema-validation issue, in the shape Fastify and TypeBox report them. */
export interface SchemaIssue {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Schema-validation issues for illFormedStrings' findings, in Fastify's shape. */
export function illFormedIssues(value: unknown): SchemaIssue[] {
  return illFormedStrings(value).map((instancePath) => ({
    keyword: 'wellFormed',
    instancePath,
    schemaPath: '#',
    params: {},
    message: 'must be well-formed Unicode (no lone surrogate)',
  }));
}
