import { createTokenIssuer } from '../modules/auth/tokens.ts';
import { findUserById } from '../modules/users/user.repository.ts';
import { runCommand, UsageError, withDatabase } from './cli.ts';

const USAGE = `Print an access token (JWT) for a user, to try the API with curl or a WebSocket client.

Usage:
  npm run token -- <user_id>

Example:
  TOKEN=$(npm run -s token -- b1)
  curl -H "Authorization: Bearer $TOKEN" http://localhost:11075/api/auth/me`;

runCommand({
  usage: USAGE,
  async run(args) {
    const [userId] = args;
    if (!userId || args.length > 1) throw new UsageError('Give exactly one user id.');
    await withDatabase(async ({ db }, config) => {
      const user = await findUserById(db, userId);
      if (!user) throw new Error(`No user with id ${userId}.`);
      if (user.status !== 'active')
        throw new Error(`User ${userId} is ${user.status}; the server would refuse the token.`);
      const tokens = createTokenIssuer({
        secret: config.JWT_SECRET_KEY,
        algorithm: config.JWT_ALGORITHM,
        expireDays: config.JWT_ACCESS_TOKEN_EXPIRE_DAYS,
      });
      console.log((await tokens.issue(user.id, user.role)).token);
    });
  },
});
