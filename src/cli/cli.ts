import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/config.ts';
import { loadConfig } from '../config/environment.ts';
import { type DatabaseHandle, openDatabase } from '../db/connection.ts';

/** A mistake in how a command was called: print usage and exit 2. */
export class UsageError extends Error {}

export interface Command {
  usage: string;
  run(args: string[]): Promise<void>;
}

/** Runs a CLI: --help prints usage, usage mistakes exit 2, other failures exit 1. */
export function runCommand(command: Command): void {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(command.usage);
    return;
  }
  command.run(args).then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`${error.message}\n\n${command.usage}`);
        process.exit(2);
      }
      console.error(error instanceof ConfigError || error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}

/** Opens the configured database for the duration of `work`. */
export async function withDatabase<T>(work: (database: DatabaseHandle, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const database = openDatabase(config.DATABASE_URL);
  try {
    return await work(database, config);
  } finally {
    await database.destroy();
  }
}
