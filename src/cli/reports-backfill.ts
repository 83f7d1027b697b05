import { backfillReports } from '../modules/reports/report-backfill.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';

const USAGE = `Compute the response-time reports' figures of the messages already stored
(README, "Response-time reports"): the same rounds the servers' report follower runs,
in the foreground, until every conversation is caught up. Safe to run again (a
caught-up database has nothing to do), to stop and restart (it continues where it
stopped), and beside running servers (nothing is counted twice).

Usage:
  npm run reports:backfill [-- --rebuild] [-- --quiet]

Options:
  --rebuild   forget every figure first and count everything again, resolves and
              ratings included (after a change of definitions; stop the servers first)
  --quiet     no progress lines

Example:
  npm run reports:backfill`;

runCommand({
  usage: USAGE,
  async run(args) {
    const unknown = args.filter((arg) => arg !== '--rebuild' && arg !== '--quiet');
    if (unknown.length > 0) throw new UsageError(`Unknown argument: ${unknown[0]}`);
    const quiet = args.includes('--quiet');
    await withDatabase(async ({ db }) => {
      const started = Date.now();
      let last = 0;
      const result = await backfillReports(db, {
        rebuild: args.includes('--rebuild'),
        onProgress: (p) => {
          if (quiet || (Date.now() - last < 1_000 && p.behind > 0)) return;
          last = Date.now();
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          console.log(
            `${seconds}s: ${p.messages} messages of ${p.conversations} conversation ranges read, ${p.behind} conversations behind`,
          );
        },
      });
      console.log(`Done: ${result.messages} messages read; every conversation is caught up.`);
    });
  },
});
