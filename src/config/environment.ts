import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { type Config, parseConfig } from './config.ts';

/**
 * The only place that reads process.env. Values from the .env file are used
 * for variables the real environment does not set (real variables win).
 */
export function readEnvironment(envFile = '.env'): Record<string, string | undefined> {
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  return { ...fromFile, ...process.env };
}

export function loadConfig(envFile = '.env'): Config {
  return parseConfig(readEnvironment(envFile));
}
