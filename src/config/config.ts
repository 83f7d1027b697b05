import { isIP } from 'node:net';

/**
 * The service's configuration: every variable is required and has no default.
 * A variable is missing only when it is absent; "", "0" and "False" are values.
 * All problems are collected and reported together, so one failed start shows
 * everything that needs fixing.
 */

export type DatabaseUrl = { kind: 'mysql'; url: string } | { kind: 'sqlite'; path: string };

type Parser<T> = (raw: string) => T;

class InvalidValue extends Error {}

const text: Parser<string> = (raw) => raw;

const nonEmpty: Parser<string> = (raw) => {
  if (raw.trim() === '') throw new InvalidValue('must not be empty');
  return raw;
};

const bool: Parser<boolean> = (raw) => {
  const lower = raw.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new InvalidValue('must be True or False');
};

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new InvalidValue('must be a whole number');
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidValue(`must be between ${min} and ${max}`);
    return value;
  };
}

const positiveNumber: Parser<number> = (raw) => {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidValue('must be a positive number');
  }
  return value;
};

const databaseUrl: Parser<DatabaseUrl> = (raw) => {
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path === '') throw new InvalidValue('sqlite: needs a file path or :memory:');
    return { kind: 'sqlite', path };
  }
  const match = /^mysql(?:\+aiomysql)?:\/\//.exec(raw);
  if (match) {
    const url = `mysql://${raw.slice(match[0].length)}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidValue('is not a valid mysql:// URL');
    }
    if (parsed.pathname.length <= 1) throw new InvalidValue('must name a database: mysql://user:pass@host:3306/dbname');
    return { kind: 'mysql', url };
  }
  throw new InvalidValue('must start with mysql://, mysql+aiomysql:// or sqlite:');
};

const jwtAlgorithm: Parser<'HS256' | 'HS384' | 'HS512'> = (raw) => {
  if (raw === 'HS256' || raw === 'HS384' || raw === 'HS512') return raw;
  throw new InvalidValue('must be HS256, HS384 or HS512');
};

const httpUrl: Parser<string> = (raw) => {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new InvalidValue('must be an absolute http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidValue('must be an absolute http(s) URL');
  }
  return raw.replace(/\/+$/, '');
};

const origins: Parser<string[]> = (raw) => {
  if (raw.trim() === '') return [];
  return raw.split(',').map((item) => {
    const origin = item.trim();
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new InvalidValue(`"${origin}" is not an origin like http://localhost:5173`);
    }
    if (parsed.origin !== origin.replace(/\/$/, '')) {
      throw new InvalidValue(`"${origin}" is not an origin like http://localhost:5173 (no path)`);
    }
    return parsed.origin;
  });
};

const redisUrl: Parser<string> = (raw) => {
  if (raw === '') return '';
  if (!/^rediss?:\/\//.test(raw)) throw new InvalidValue('must be "" or a redis:// / rediss:// URL');
  return raw;
};

/**
 * What this deployment's Redis keys and channel start with. Letters, digits
 * and `_ - .` only: no glob characters, so `SCAN MATCH <prefix>:*` finds
 * exactly this deployment's keys.
 */
const redisPrefix: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw)) {
    throw new InvalidValue('must be 1 to 64 letters, digits, "_", "-" or "." (e.g. cs-chat-prod)');
  }
  return raw;
};

const platformKey: Parser<string> = (raw) => {
  if (raw !== '' && raw.length < 16) throw new InvalidValue('must be "" (disabled) or at least 16 characters');
  return raw;
};

/** proxy-addr's names for address ranges, accepted beside addresses and CIDR ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Reverse proxies whose X-Forwarded-For is believed: addresses, CIDR ranges or
 * range names. The client's address is what the nearest untrusted hop says.
 */
const trustedProxies: Parser<string[]> = (raw) => {
  if (raw.trim() === '') return [];
  return raw.split(',').map((item) => {
    const entry = item.trim();
    if (PROXY_RANGE_NAMES.has(entry)) return entry;
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const bitsValid = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsValid || rest.length > 0) {
      throw new InvalidValue(
        `"${entry}" is not an address, a CIDR range (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`,
      );
    }
    return entry;
  });
};

/** Every variable the service reads, with the parser that validates it. */
const variables = {
  DATABASE_URL: databaseUrl,
  DEBUG_SQL: bool,
  JWT_SECRET_KEY: nonEmpty,
  JWT_ALGORITHM: jwtAlgorithm,
  JWT_ACCESS_TOKEN_EXPIRE_DAYS: positiveNumber,
  HOST: nonEmpty,
  PORT: integer(0, 65535),
  RELOAD: bool,
  DEBUG: bool,
  BASE_URL: httpUrl,
  CORS_ORIGINS: origins,
  MEDIA_DIR: nonEmpty,
  MAX_FILE_SIZE: integer(1, Number.MAX_SAFE_INTEGER),
  APP_TITLE: text,
  APP_DESCRIPTION: text,
  APP_VERSION: text,
  REDIS_URL: redisUrl,
  REDIS_PREFIX: redisPrefix,
  PLATFORM_API_KEY: platformKey,
  TRUSTED_PROXIES: trustedProxies,
} satisfies Record<string, Parser<unknown>>;

export type Config = Readonly<{ [K in keyof typeof variables]: ReturnType<(typeof variables)[K]> }>;
export const CONFIG_VARIABLES = Object.keys(variables) as (keyof typeof variables)[];

/** The placeholder secret shipped in .env.example; never acceptable in production. */
export const EXAMPLE_JWT_SECRET = 'change-me-run-npm-run-setup-or-generate-a-64-byte-secret';
const MIN_PRODUCTION_SECRET_BYTES = 32;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `Configuration is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nEvery variable is required; see .env.example (npm run setup writes a .env for you).',
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function parseConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const name of CONFIG_VARIABLES) {
    const raw = env[name];
    if (raw === undefined) {
      problems.push(`${name} is not set`);
      continue;
    }
    try {
      result[name] = variables[name](raw);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push(`${name} ${error.message} (got ${JSON.stringify(raw)})`);
    }
  }
  if (result.DEBUG === false && typeof result.JWT_SECRET_KEY === 'string') {
    const secret = result.JWT_SECRET_KEY;
    if (secret === EXAMPLE_JWT_SECRET) {
      problems.push('JWT_SECRET_KEY is the example value; generate one (npm run setup does) when DEBUG=False');
    } else if (Buffer.byteLength(secret) < MIN_PRODUCTION_SECRET_BYTES) {
      problems.push(`JWT_SECRET_KEY must be at least ${MIN_PRODUCTION_SECRET_BYTES} bytes when DEBUG=False`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(result) as Config;
}
