/**
 * A small deterministic request generator for fuzzing the REST API from its
 * OpenAPI document (case 15). Every value comes from one seeded PRNG, so a
 * failure is reproduced by running again with the same seed (FUZZ_SEED).
 */

export type Schema = {
  type?: string;
  enum?: unknown[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  additionalProperties?: boolean;
  default?: unknown;
  [key: string]: unknown;
};

/** mulberry32: a tiny, good-enough 32-bit PRNG. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const PRINTABLE = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');

/** Strings that have broken parsers, databases and renderers before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\t\r\n',
  '\u2028\u2029',
  '😀'.repeat(30),
  '\ud800',
  'x\udfffy',
  '\u202Eevil\u202C',
  'ÅÍÎÏ˝ÓÔ\uf8ffÒÚÆ☃',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͓',
  '田中さんにあげて下さい',
  '🏳️‍🌈👨‍👩‍👧‍👦',
  "'; DROP TABLE users; --",
  '" OR "1"="1',
  '\\',
  '%s%s%n',
  '\u0024{jndi:ldap://x}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e309',
  '9'.repeat(40),
  'a'.repeat(256),
  'b'.repeat(5001),
  '长'.repeat(5001),
  '😀'.repeat(2600),
];

export const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  -1e-320,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1_000_000,
  1_000_001,
  -1_000_001,
  Number.MAX_SAFE_INTEGER,
];

/**
 * A path segment, percent-encoded. A lone surrogate has no UTF-8 form; it is
 * sent as the bytes a careless encoder would produce (CESU-8) and a stray 0xFF:
 * invalid UTF-8 in the path.
 */
export function encodeSegment(value: string): string {
  return value.isWellFormed() ? encodeURIComponent(value) : `${encodeURIComponent(value.toWellFormed())}%ED%A0%80%FF`;
}

/** Known resources, so some requests get past validation into the services. */
export interface IdPools {
  users: string[];
  conversations: string[];
  messages: string[];
  replies: string[];
  media: string[];
  webhooks: string[];
}

export class Generator {
  readonly #random: () => number;
  readonly pools: IdPools;

  constructor(seed: number, pools: IdPools) {
    this.#random = prng(seed);
    this.pools = pools;
  }

  float(): number {
    return this.#random();
  }

  int(below: number): number {
    return Math.floor(this.#random() * below);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }

  /** A length near the schema's bounds more often than not. */
  length(schema: Schema): number {
    const min = schema.minLength ?? 0;
    const max = schema.maxLength ?? 40;
    const choices = [min, min + 1, max, max - 1, this.int(Math.min(max, 60) + 1)];
    return Math.max(0, this.pick(choices));
  }

  /** A string that satisfies the schema (as far as its known patterns go). */
  validString(schema: Schema, name: string): string {
    const pattern = schema.pattern ?? '';
    if (pattern.includes('A-Za-z0-9_-')) return this.id(name, schema);
    if (pattern.startsWith('^(https?://')) {
      return this.pick(['https://cdn.example/a.png', '/api/media/avatars/buyer.png', 'http://x']);
    }
    if (pattern.includes('\\x21-\\x7e')) return this.chars(PRINTABLE, Math.max(1, this.length(schema)));
    const length = Math.max(schema.minLength ?? 0, Math.min(this.length(schema), schema.maxLength ?? 40));
    if (name === 'content' || name === 'description') {
      return this.pick(['hello', '你好', this.chars('abc 长😀', length), '[{}]', 'a'.repeat(length)]);
    }
    return this.chars(ID_CHARS, Math.max(1, length));
  }

  /** An id: a known resource of the right kind when there is one, else a made-up one. */
  id(name: string, schema: Schema = {}): string {
    const pool =
      name.includes('conversation') || name === 'id:conversation'
        ? this.pools.conversations
        : name.includes('message')
          ? this.pools.messages
          : name.includes('repl')
            ? this.pools.replies
            : name.includes('webhook')
              ? this.pools.webhooks
              : this.pools.users;
    if (pool.length > 0 && this.chance(0.6)) return this.pick(pool);
    const any = [...this.pools.users, ...this.pools.conversations, ...this.pools.messages, ...this.pools.replies];
    if (any.length > 0 && this.chance(0.3)) return this.pick(any);
    return this.chars(ID_CHARS, Math.max(1, Math.min(this.length(schema), 50)));
  }

  /** Any JSON value, to put where the schema wants something else. */
  wrongValue(depth = 0): unknown {
    switch (this.int(depth > 3 ? 6 : 9)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick(NASTY_NUMBERS);
      case 3:
        return this.pick(NASTY_STRINGS);
      case 4:
        return this.chars(ID_CHARS, this.int(10));
      case 5:
        return [];
      case 6:
        return Array.from({ length: this.int(4) }, () => this.wrongValue(depth + 1));
      case 7:
        return { [this.pick(['a', '__proto__', 'constructor', 'type'])]: this.wrongValue(depth + 1) };
      default:
        return this.nested(this.pick([8, 64, 512]));
    }
  }

  nested(depth: number): unknown {
    let value: unknown = this.pick([1, 'x', null]);
    for (let i = 0; i < depth; i++) value = this.chance(0.5) ? [value] : { a: value };
    return value;
  }

  /** A value for `schema`: usually valid, sometimes on or past a boundary, sometimes of the wrong kind. */
  value(schema: Schema, name: string, depth = 0): unknown {
    const roll = this.float();
    if (roll < 0.12) return this.wrongValue(depth);
    if (roll < 0.2 && (schema.type === 'string' || schema.type === undefined)) return this.pick(NASTY_STRINGS);
    if (schema.anyOf) return this.value(this.pick(schema.anyOf), name, depth);
    if (schema.enum) return this.chance(0.9) ? this.pick(schema.enum) : this.pick(['', 'ADMIN', 'buyer ', 'x']);
    switch (schema.type) {
      case 'string': {
        if (roll < 0.3) {
          // Boundaries: just inside and just past each end.
          const max = schema.maxLength ?? 100;
          const min = schema.minLength ?? 0;
          const length = this.pick([max, max + 1, Math.max(0, min - 1), min]);
          return this.chars(this.pick([ID_CHARS, '长', '😀', ' ']), length);
        }
        return this.validString(schema, name);
      }
      case 'integer':
      case 'number': {
        if (roll < 0.4) return this.pick(NASTY_NUMBERS);
        const min = schema.minimum ?? 0;
        const max = schema.maximum ?? 100;
        const within = min + this.int(Math.min(max - min, 1000) + 1);
        return this.pick([within, min, max, min - 1, max + 1]);
      }
      case 'boolean':
        return this.chance(0.5);
      case 'null':
        return null;
      case 'array': {
        const count = this.pick([0, 1, 2, schema.maxItems ?? 3, (schema.maxItems ?? 3) + 1]);
        return Array.from({ length: Math.min(count, 101) }, () => this.value(schema.items ?? {}, name, depth + 1));
      }
      case 'object':
        return this.object(schema, depth);
      default:
        return this.wrongValue(depth);
    }
  }

  /** An object for `schema`: required fields mostly present, optional ones sometimes, an extra one now and then. */
  object(schema: Schema, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const required = new Set(schema.required ?? []);
    for (const [key, property] of Object.entries(schema.properties ?? {})) {
      const keep = required.has(key) ? this.chance(0.93) : this.chance(0.5);
      if (keep) out[key] = this.value(property, key, depth + 1);
    }
    if (this.chance(0.1))
      out[this.pick(['extra', 'is_admin', '__proto__', 'role', 'id', 'password_hash'])] = this.wrongValue(depth + 1);
    return out;
  }

  /** A body for an operation's JSON schema; once in a while not an object at all. */
  body(schema: Schema): unknown {
    if (this.chance(0.05)) return this.wrongValue();
    const target = schema.anyOf ? this.pick(schema.anyOf) : schema;
    return this.object(target);
  }

  /** A path parameter: a known id, a generated value, or something hostile (URL-encoded by the caller). */
  pathValue(schema: Schema, name: string, template: string): string {
    if (name === '*') {
      return this.pick([
        ...this.pools.media,
        'avatars/buyer.png',
        '../../../etc/passwd',
        '..%2f..%2fetc%2fpasswd',
        'uploads/',
        'uploads/2024/01/01/nope.png',
        '%00',
        '.%2e/.%2e/secret',
        'avatars/../../x',
      ]);
    }
    const roll = this.float();
    if (roll < 0.15) return String(this.pick(NASTY_STRINGS));
    if (roll < 0.25) return this.chars(ID_CHARS, this.pick([50, 51, 200]));
    const kind = template.includes('/conversations/')
      ? 'conversation'
      : template.includes('/messages/')
        ? 'message'
        : template.includes('/quick-replies/{id}')
          ? 'reply'
          : template.includes('/webhooks/{id}')
            ? 'webhook'
            : 'user';
    return this.id(kind, schema);
  }

  /** A query value as text (the wire form), valid or not. */
  queryValue(schema: Schema, name: string): string {
    const roll = this.float();
    if (roll < 0.15) return String(this.pick(NASTY_STRINGS));
    if (roll < 0.25) return String(this.pick(NASTY_NUMBERS));
    if (roll < 0.3) return this.pick(['1e309', '99999999999999999999', '-1', '0x10', '1.5', 'true', '[]', '{}']);
    const value = this.value(schema, name);
    return typeof value === 'string' ? value : JSON.stringify(value);
  }
}
