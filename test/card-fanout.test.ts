import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/types.ts';
import { conversationsShowing, recordCardShown } from '../src/modules/cards/card.repository.ts';
import { testDialects } from './helpers/databases.ts';
import { insertConversation, insertUser, openScratchDatabase } from './helpers/factories.ts';

// A card update pushes to a bounded number of conversations, the most recently shown first
// (card.service.ts, MAX_CARD_UPDATE_FANOUT): the bound and the order are the repository's.
for (const dialect of testDialects) {
  describe(`cards: the conversations an update reaches (${dialect.name})`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    const ids: string[] = [];
    const card = { kind: 'product', id: 'P1' } as const;

    before(async () => {
      ({ db, close } = await openScratchDatabase(dialect));
      const merchant = await insertUser(db, { role: 'merchant' });
      for (let i = 0; i < 5; i++) {
        const conversation = await insertConversation(db, await insertUser(db), merchant);
        ids.push(conversation.id);
        await recordCardShown(db, card, conversation.id, 1000 + i);
      }
      // Another card and another kind with the same id are other cards.
      await recordCardShown(db, { kind: 'order', id: 'P1' }, ids[0] as string, 5000);
      await recordCardShown(db, { kind: 'product', id: 'P2' }, ids[1] as string, 5000);
    });
    after(() => close());

    test('at most `limit`, the most recently shown first, with their participants', async () => {
      const shown = await conversationsShowing(db, card, 3);
      assert.deepEqual(
        shown.map((c) => c.id),
        [ids[4], ids[3], ids[2]],
      );
      assert.ok(shown.every((c) => c.participant1_id && c.participant2_id));
    });

    test('showing a card again moves its conversation up, without a second entry', async () => {
      await recordCardShown(db, card, ids[0] as string, 2000);
      const shown = await conversationsShowing(db, card, 10);
      assert.deepEqual(
        shown.map((c) => c.id),
        [ids[0], ids[4], ids[3], ids[2], ids[1]],
      );
    });
  });
}
