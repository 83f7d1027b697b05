import type { Message } from '@cs-chat/contracts/rest/message.schemas';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { Database } from '../../db/types.ts';
import type { EventHub } from '../../events/hub.ts';
import { nowSeconds } from '../../lib/time.ts';
import type { MessageService } from '../messages/message.service.ts';
import { findUserById } from '../users/user.repository.ts';
import { autoReplySettingsOf, hasAutoReplies } from './auto-reply-settings.ts';
import { closedSince, isOpen, type Schedule } from './business-hours.ts';
import { type CompiledRule, compileRules, firstMatch } from './keywords.ts';

/** A keyword rule answers a conversation at most once in this many seconds. */
export const KEYWORD_COOLDOWN_SECONDS = 600;
/** How long a team's settings are trusted without reading them again (another instance may change them). */
const SETTINGS_TTL_MS = 10_000;

interface TeamAutoReplies {
  welcome: string | null;
  away: string | null;
  schedule: Schedule;
  rules: readonly CompiledRule[];
}

export interface AutoReplyDeps {
  db: Kysely<Database>;
  messages: Pick<MessageService, 'prepareServerMessages' | 'writeServerMessages'>;
  /** The subset of `userIds` online on any instance. */
  online: (userIds: readonly string[]) => Promise<readonly string[]>;
  logger: { warn(object: unknown, message: string): void };
  /** The clock (tests fix it). */
  now?: () => number;
}

export type AutoReplier = ReturnType<typeof createAutoReplier>;

/**
 * Auto replies (issue 14): a message.created subscriber, so they run after the
 * buyer's send has committed, never inside it. A buyer's message into a
 * team's conversation may get the welcome message (their first message), the
 * away message (outside business hours, or nobody online and available: once
 * per away period) and the first matching keyword reply (once per cooldown).
 * They are stored as messages from the owner's account with `auto_reply` set,
 * as the server's own messages (src/modules/messages/server-messages.ts): with
 * the send transaction's hooks (the webhook's message.created), but no side,
 * so they never claim, reopen or answer a turn. Which
 * rule may answer is claimed in auto_reply_sends, so several instances send
 * each once. The teams with a rule are read in one query every 10 s (and
 * after a settings change here): a message to a team without one costs nothing.
 */
export function createAutoReplier({ db, messages, online, logger, now = nowSeconds }: AutoReplyDeps) {
  const cache = new Map<string, { at: number; team: TeamAutoReplies | null }>();
  /**
   * The teams that have any auto reply, read in one query at most every
   * SETTINGS_TTL_MS: a buyer's message to any other team costs no query.
   */
  let withRules: { at: number; ids: ReadonlySet<string> } | undefined;
  let loading: Promise<ReadonlySet<string>> | undefined;
  /** Bumped by a settings change: a read that started before it is not kept. */
  let generation = 0;

  function teamsWithRules(): Promise<ReadonlySet<string>> {
    if (withRules && Date.now() - withRules.at < SETTINGS_TTL_MS) return Promise.resolve(withRules.ids);
    loading ??= (async () => {
      const started = generation;
      try {
        const rows = await db
          .selectFrom('teams')
          .select('owner_id')
          .where((eb) =>
            eb.or([
              eb('welcome_message', 'is not', null),
              eb('away_message', 'is not', null),
              eb('keyword_replies', 'is not', null),
            ]),
          )
          .execute();
        const ids = new Set(rows.map((row) => row.owner_id));
        if (started === generation) withRules = { at: Date.now(), ids };
        return ids;
      } finally {
        if (started === generation) loading = undefined;
      }
    })();
    return loading;
  }

  async function settingsOf(teamId: string): Promise<TeamAutoReplies | null> {
    const cached = cache.get(teamId);
    if (cached && Date.now() - cached.at < SETTINGS_TTL_MS) return cached.team;
    const row = await db.selectFrom('teams').selectAll().where('owner_id', '=', teamId).executeTakeFirst();
    const settings = row ? autoReplySettingsOf(row) : undefined;
    const team =
      settings && hasAutoReplies(settings)
        ? {
            welcome: settings.welcome_message,
            away: settings.away_message,
            schedule: { timezone: settings.timezone, hours: settings.business_hours, daysOff: settings.days_off },
            rules: compileRules(settings.keyword_replies),
          }
        : null;
    cache.set(teamId, { at: Date.now(), team });
    return team;
  }

  /**
   * Claims `rule` in the conversation, recording `mark` (the period it answers
   * in): the first time, or when the recorded mark is below `before` (null:
   * never again). One row per rule, so two instances cannot both win.
   */
  async function claim(conversationId: string, rule: string, mark: number, before: number | null): Promise<boolean> {
    try {
      await db.insertInto('auto_reply_sends').values({ conversation_id: conversationId, rule, mark }).execute();
      return true;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    if (before === null) return false;
    const result = await db
      .updateTable('auto_reply_sends')
      .set({ mark })
      .where('conversation_id', '=', conversationId)
      .where('rule', '=', rule)
      .where('mark', '<', before)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Whether no earlier message of the customer is in the conversation. */
  async function isFirstOf(message: Message): Promise<boolean> {
    const earlier = await db
      .selectFrom('messages')
      .select('id')
      .where('conversation_id', '=', message.conversation_id)
      .where('sender_id', '=', message.sender_id)
      .where('seq', '<', message.seq)
      .limit(1)
      .executeTakeFirst();
    return earlier === undefined;
  }

  /** Whether a member (the owner included) is online on any instance and available. */
  async function anyoneAvailable(teamId: string): Promise<boolean> {
    const rows = await db
      .selectFrom('users')
      .select('id')
      .where('team_id', '=', teamId)
      .where('status', '=', 'active')
      .where('available', '=', 1)
      .execute();
    return rows.length > 0 && (await online(rows.map((row) => row.id))).length > 0;
  }

  /**
   * The seq of the team's last human message before `message` (0: none): it
   * names the customer's unanswered turn, the away period while nobody is
   * there. Walks back from `message` through the (conversation_id, seq) key.
   */
  async function lastHumanAnswer(message: Message): Promise<number> {
    const row = await db
      .selectFrom('messages')
      .select('seq')
      .where('conversation_id', '=', message.conversation_id)
      .where('seq', '<', message.seq)
      .where('sender_id', '!=', message.sender_id)
      .where('auto_reply', '=', 0)
      .where('message_type', 'in', ['text', 'image', 'file'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  /** The replies `message` gets, each claimed. */
  async function repliesTo(message: Message, team: TeamAutoReplies, teamId: string, at: number): Promise<string[]> {
    const replies: string[] = [];
    const id = message.conversation_id;
    if (team.welcome !== null && (await isFirstOf(message)) && (await claim(id, 'welcome', at, null))) {
      replies.push(team.welcome);
    }
    if (team.away !== null) {
      // Closed: the closure is the period. Open with nobody there: the unanswered turn is.
      if (!isOpen(team.schedule, at)) {
        const since = closedSince(team.schedule, at);
        if (await claim(id, 'away:closed', since, since)) replies.push(team.away);
      } else if (!(await anyoneAvailable(teamId))) {
        const turn = (await lastHumanAnswer(message)) + 1;
        if (await claim(id, 'away:absent', turn, turn)) replies.push(team.away);
      }
    }
    const rule = message.message_type === 'text' ? firstMatch(team.rules, message.content) : undefined;
    // A keyword rule's period is its cooldown: it answers again once its last answer is that old.
    if (rule && (await claim(id, `keyword:${rule.index}`, at, at - KEYWORD_COOLDOWN_SECONDS + 1))) {
      replies.push(rule.reply);
    }
    return replies;
  }

  async function answer(message: Message, participants: readonly [string, string], teamId: string): Promise<void> {
    if (!(await teamsWithRules()).has(teamId)) return;
    const team = await settingsOf(teamId);
    if (!team) return;
    const at = now();
    const replies = await repliesTo(message, team, teamId, at);
    if (replies.length === 0) return;
    const owner = await findUserById(db, teamId);
    if (!owner) return;
    const conversation = {
      id: message.conversation_id,
      participant1_id: participants[0],
      participant2_id: participants[1],
      team_id: teamId,
    };
    const prepared = await messages.prepareServerMessages(
      replies.map((content) => ({ kind: 'auto' as const, conversation, sender: owner, content, createdAt: at })),
    );
    await inTransaction(db, undefined, (tx) => messages.writeServerMessages(tx, prepared));
  }

  return {
    answer,

    /** Subscribes to buyers' messages (never the team's, never an auto reply) and to settings changes. */
    subscribe(hub: Pick<EventHub, 'subscribe'>): () => void {
      const unsubscribers = [
        hub.subscribe('message.created', ({ message, participants, teamId }) => {
          if (teamId === null || message.auto) return;
          const customer = participants[0] === teamId ? participants[1] : participants[0];
          if (message.sender_id !== customer) return;
          // Known to have no rule: nothing to do, no query, not even a promise.
          if (withRules && Date.now() - withRules.at < SETTINGS_TTL_MS && !withRules.ids.has(teamId)) return;
          void answer(message, participants, teamId).catch((error: unknown) =>
            logger.warn({ err: error }, 'auto reply failed'),
          );
        }),
        hub.subscribe('team.changed', ({ ownerId }) => {
          cache.delete(ownerId);
          withRules = undefined;
          loading = undefined;
          generation++;
        }),
      ];
      return () => {
        for (const unsubscribe of unsubscribers) unsubscribe();
      };
    },
  };
}
