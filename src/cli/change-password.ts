import { hashPassword } from '../lib/password.ts';
import { nowSeconds } from '../lib/time.ts';
import { findUserByUsername, updateUser } from '../modules/users/user.repository.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';
import { prompt } from './prompt.ts';

const USAGE = `Set a user's password.

Usage:
  npm run change-password -- <username> <password>
  npm run change-password -- <username>      (asks for the password without echo)`;

runCommand({
  usage: USAGE,
  async run(args) {
    const [username, given] = args;
    if (!username || args.length > 2) throw new UsageError('Give the username (and optionally the new password).');
    const password = given ?? (await prompt('New password: ', { hidden: true }));
    if (password.length < 6) throw new UsageError('The password must have at least 6 characters.');
    await withDatabase(async ({ db }) => {
      const user = await findUserByUsername(db, username);
      if (!user) throw new Error(`No user named ${username}.`);
      // Every token issued before the change is refused (running servers see it within a second).
      await updateUser(db, user.id, {
        password_hash: await hashPassword(password),
        tokens_valid_after: Date.now(),
        updated_at: nowSeconds(),
      });
      console.log(`Password of ${username} (${user.id}) changed.`);
    });
  },
});
