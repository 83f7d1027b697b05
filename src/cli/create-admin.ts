import { hashPassword } from '../lib/password.ts';
import { nowSeconds } from '../lib/time.ts';
import { findUserById, insertUser, usernameInUse } from '../modules/users/user.repository.ts';
import { checkUsername } from '../modules/users/usernames.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';
import { prompt } from './prompt.ts';

const USAGE = `Create an administrator account.

Usage:
  npm run create-admin -- <id> <username> <password>
  npm run create-admin                 (asks for each, the password without echo)

  id        letters, digits, _ or -, at most 50 (admins conventionally a1, a2, ...)
  username  the login name
  password  at least 6 characters`;

runCommand({
  usage: USAGE,
  async run(args) {
    if (args.length > 3) throw new UsageError('Too many arguments.');
    const id = args[0] ?? (await prompt('Admin id (e.g. a1): '));
    const typed = args[1] ?? (await prompt('Username: '));
    const password = args[2] ?? (await prompt('Password: ', { hidden: true }));
    if (!/^[A-Za-z0-9_-]{1,50}$/.test(id)) throw new UsageError(`Invalid id "${id}".`);
    // Stored like every other username: NFKC, no invisible, control or bidi characters.
    const verdict = checkUsername(typed, 'admin');
    if (!verdict.ok) throw new UsageError('The username has invisible, control or bidirectional-control characters.');
    const { username } = verdict;
    if (username === '' || username.length > 100) throw new UsageError('The username must have 1 to 100 characters.');
    if (password.length < 6) throw new UsageError('The password must have at least 6 characters.');
    await withDatabase(async ({ db }) => {
      if (await findUserById(db, id)) throw new Error(`A user with id ${id} already exists.`);
      if (await usernameInUse(db, username)) {
        throw new Error(`The username ${username} is taken; use npm run change-password to reset its password.`);
      }
      const now = nowSeconds();
      await insertUser(db, {
        id,
        username,
        role: 'admin',
        password_hash: await hashPassword(password),
        avatar: null,
        description: null,
        status: 'active',
        created_at: now,
        updated_at: now,
      });
      console.log(`Created admin ${id} (${username}).`);
    });
  },
});
