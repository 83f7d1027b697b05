import type { Card, CardKind, PutCardBody } from '@cs-chat/contracts/rest/card.schemas';
import type { Conversation, CreateConversationBody } from '@cs-chat/contracts/rest/conversation.schemas';
import type { Kysely } from 'kysely';
import type { CardRow, Database, UserRow } from '../../db/types.ts';
import type { EventPublisher } from '../../events/hub.ts';
import { forbidden, notFound, unprocessable } from '../../lib/errors.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { PlatformKeyCheck } from '../auth/platform-key.ts';
import type { ConversationService } from '../conversations/conversation.service.ts';
import type { MessageService } from '../messages/message.service.ts';
import { findUserById } from '../users/user.repository.ts';
import * as repo from './card.repository.ts';
import { type CardKey, cardJson, cardKeyOf, checkCard } from './card-content.ts';

/**
 * A card update pushes `card_updated` to at most this many conversations, the
 * most recently shown first: a product shown in 100,000 conversations must
 * not make one PUT fan out 100,000 pushes. The others show the new state the
 * next time they read the card (history joins it).
 */
export const MAX_CARD_UPDATE_FANOUT = 1000;

export interface CardServiceDeps {
  db: Kysely<Database>;
  conversations: ConversationService;
  messages: MessageService;
  events: EventPublisher;
  requirePlatform: PlatformKeyCheck;
}

export type CardService = ReturnType<typeof createCardService>;

/** The users an order card names (who may open a conversation about it). */
function usersOf(row: CardRow): string[] {
  return row.user_ids === null ? [] : (JSON.parse(row.user_ids) as string[]);
}

export function createCardService({ db, conversations, messages, events, requirePlatform }: CardServiceDeps) {
  // Which conversations show which card, kept in the send transaction: a statement per card
  // message, none for a batch without cards (one call per batch, not per message).
  messages.sendTransaction.onBatch(async (trx, stored) => {
    for (const { message } of stored) {
      const key = message.message_type === 'card' ? cardKeyOf(message.content) : undefined;
      if (key) await repo.recordCardShown(trx, key, message.conversation_id, Number(message.created_at));
    }
  });

  async function storedCard(key: CardKey): Promise<CardRow> {
    const row = await repo.findCard(db, key);
    if (!row) throw notFound('card_not_found');
    return row;
  }

  return {
    /**
     * The platform sets a card's current state. When it changed, every
     * conversation showing the card (up to MAX_CARD_UPDATE_FANOUT) is told.
     */
    async put(apiKey: string | undefined, kind: CardKind, id: string, body: PutCardBody) {
      requirePlatform(apiKey);
      const { user_ids: userIds, ...fields } = body;
      const card: Card = checkCard({ kind, id, ...fields });
      const state = cardJson(card);
      const users = kind === 'order' && userIds !== undefined && userIds.length > 0 ? JSON.stringify(userIds) : null;
      const before = await repo.findCard(db, card);
      const changed = before?.state !== state;
      if (changed || before?.user_ids !== users) {
        await repo.upsertCard(db, { kind, id, state, user_ids: users, updated_at: nowSeconds() });
      }
      // A participant's product card may be shown before the platform ever stored it: a new card is a change too.
      const shown = changed ? await repo.conversationsShowing(db, card, MAX_CARD_UPDATE_FANOUT) : [];
      if (shown.length > 0) {
        events.publish('card.updated', {
          card,
          conversations: shown.map((c) => ({
            id: c.id,
            participants: [c.participant1_id, c.participant2_id] as const,
            teamId: c.team_id,
          })),
        });
      }
      return { card, changed, conversations_notified: shown.length };
    },

    /** The platform posts a stored card into a conversation, as one of its participants (404 otherwise). */
    async post(apiKey: string | undefined, conversationId: string, body: CardKey & { sender_id: string }) {
      requirePlatform(apiKey);
      const row = await storedCard(body);
      const sender = await findUserById(db, body.sender_id);
      if (!sender) throw notFound('user_not_found');
      // As a participant's own send would be (their sessions are refused): nothing is posted as a disabled user.
      if (sender.status !== 'active') throw forbidden('user_inactive');
      return messages.postCard(sender, conversationId, row.state);
    },

    /**
     * Opens (or finds) a conversation about a card: the card must be stored,
     * an order naming the caller among its users (404 card_not_found
     * otherwise, before anything is created), and is posted as the caller's
     * message unless the conversation shows it already.
     */
    async openAbout(
      caller: UserRow,
      body: CreateConversationBody,
    ): Promise<{ conversation: Conversation; created: boolean }> {
      const { order_id: orderId, product_id: productId, ...pair } = body;
      if (orderId !== undefined && productId !== undefined) {
        throw unprocessable('card_reference_ambiguous', ['body: give order_id or product_id, not both']);
      }
      const key: CardKey =
        orderId !== undefined ? { kind: 'order', id: orderId } : { kind: 'product', id: productId as string };
      const row = await storedCard(key);
      if (key.kind === 'order' && !usersOf(row).includes(caller.id)) throw notFound('card_not_found');
      const opened = await conversations.open(caller, pair as CreateConversationBody);
      if (await repo.isCardShownIn(db, key, opened.conversation.id)) return opened;
      await messages.postCard(caller, opened.conversation.id, row.state);
      return { conversation: await conversations.get(caller, opened.conversation.id), created: opened.created };
    },
  };
}
