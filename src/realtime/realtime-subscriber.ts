import { messageEvent } from '@cs-chat/contracts/ws/protocol';
import type { EventOrigin } from '../events/domain-events.ts';
import type { EventHub } from '../events/hub.ts';
import { type TeamSide, teamRecipients } from '../modules/access/team-lines.ts';
import type { Realtime } from './realtime.ts';
import { type ConversationSides, otherSide } from './team-audience.ts';

/** A conversation's sides: its participants, answering team (null: none) and customer. */
function sidesOf(id: string, participants: readonly [string, string], teamId: string | null): ConversationSides {
  const customerId = participants[0] === teamId ? participants[1] : participants[0];
  return { id, teamId, customerId, participants };
}

/** Everyone who sees the conversation (admins aside): its participants and its team's members who see it. */
function whoSees(participants: readonly [string, string], teamId: string | null, team: TeamSide): string[] {
  return [...new Set([...participants, ...(teamId === null ? [] : teamRecipients(teamId, team, true))])];
}

/** A write whose origin is not said reaches every connection of its writer. */
const NO_ORIGIN: EventOrigin = { skipConnectionId: null, echoToSender: true };

/**
 * Real-time delivery as one subscriber of the domain events: each event is
 * mapped to the frames it becomes and the audience that receives them, on
 * every instance. Returns the function that unsubscribes it all.
 */
export function subscribeRealtime(hub: Pick<EventHub, 'subscribe'>, realtime: Realtime): () => void {
  const unsubscribers = [
    hub.subscribe('message.created', ({ message, participants, teamId }, { origin = NO_ORIGIN }) => {
      const { skipConnectionId, echoToSender } = origin;
      const sender = message.sender_id;
      const conversation = sidesOf(message.conversation_id, participants, teamId);
      realtime.teams.withTeam(conversation, (team) => {
        const others = otherSide(conversation, sender, team).filter((id) => id !== sender);
        realtime.broadcast(messageEvent(message), {
          users: echoToSender ? [...others, sender] : others,
          admins: true,
          ...(echoToSender ? {} : { exceptUsers: [sender] }),
          exceptConnection: skipConnectionId ? { userId: sender, connectionId: skipConnectionId } : null,
        });
      });
      // After the push: the participants may learn of each other's presence now.
      realtime.revealPresence(message, participants);
    }),

    hub.subscribe('conversation.read', ({ conversationId, readerId, actorId, otherId, teamId, timestamp }) => {
      const conversation = sidesOf(conversationId, [readerId, otherId], teamId);
      realtime.teams.withTeam(conversation, (team) => {
        realtime.broadcast(
          { type: 'read', conversation_id: conversationId, reader_id: readerId, timestamp },
          { users: otherSide(conversation, readerId, team), admins: false, exceptUsers: [actorId] },
        );
      });
    }),

    hub.subscribe('message.rejected', ({ id, conversationId, senderId }) => {
      realtime.broadcast(
        { type: 'message_rejected', id, conversation_id: conversationId },
        { users: [senderId], admins: false },
      );
    }),

    hub.subscribe('message.recalled', ({ id, conversationId, participants, teamId, recalledAt }) => {
      const conversation = sidesOf(conversationId, participants, teamId);
      realtime.teams.withTeam(conversation, (team) => {
        realtime.broadcast(
          { type: 'message_recalled', id, conversation_id: conversationId, recalled_at: recalledAt },
          { users: whoSees(participants, teamId, team), admins: true },
        );
      });
    }),

    hub.subscribe('message.deleted', ({ id, conversationId, participants, teamId }) => {
      const conversation = sidesOf(conversationId, participants, teamId);
      realtime.teams.withTeam(conversation, (team) => {
        realtime.broadcast(
          { type: 'message_deleted', id, conversation_id: conversationId },
          { users: whoSees(participants, teamId, team), admins: true },
        );
      });
    }),

    hub.subscribe('card.updated', ({ card, conversations }) => {
      // One push per conversation (the service bounds how many): a client updates the card where it shows.
      // Its team's members who see the conversation too (issue 13), as for a recall.
      for (const { id, participants, teamId } of conversations) {
        realtime.teams.withTeam(sidesOf(id, participants, teamId), (team) => {
          const users = whoSees(participants, teamId, team);
          realtime.broadcast({ type: 'card_updated', conversation_id: id, card }, { users, admins: true });
        });
      }
    }),

    hub.subscribe('user.disabled', ({ userId }) => realtime.disconnectUser(userId)),

    hub.subscribe('team.changed', ({ ownerId }) => realtime.teamChanged(ownerId)),

    // Both sides, and every member: a conversation entering, leaving or changing in the queue is news to all.
    hub.subscribe('conversation.updated', ({ conversation, change, previousAssigneeId, actorId, timestamp }) => {
      const { id, participants, teamId } = conversation;
      realtime.teams.withTeam(sidesOf(id, participants, teamId), (team) => {
        const users = new Set([...participants, ...team.members.map((member) => member.id)]);
        if (conversation.assigneeId !== null) users.add(conversation.assigneeId);
        if (previousAssigneeId !== null) users.add(previousAssigneeId);
        realtime.broadcast(
          {
            type: 'conversation_updated',
            conversation_id: id,
            change,
            team_id: teamId,
            assignee_id: conversation.assigneeId,
            previous_assignee_id: previousAssigneeId,
            status: conversation.status,
            linked_conversation_id: conversation.linkedConversationId,
            actor_id: actorId,
            timestamp,
          },
          { users: [...users], admins: true },
        );
      });
      // Presence follows the new lines at once, not only from the next connection on.
      if (change === 'assignment' && teamId !== null) {
        const { customerId } = sidesOf(id, participants, teamId);
        realtime.revealTeamLines({ id, teamId, customerId, assigneeId: conversation.assigneeId });
      }
    }),

    // The team's side only: never the customer.
    hub.subscribe('note.created', ({ note, participants, teamId }) => {
      if (teamId === null) return;
      const conversation = sidesOf(note.conversation_id, participants, teamId);
      realtime.teams.withTeam(conversation, (team) => {
        const users = teamRecipients(teamId, team, true).filter((user) => user !== conversation.customerId);
        realtime.broadcast({ type: 'note', ...note }, { users, admins: true });
      });
    }),

    // The owner, supervisors and the assignee (not the queue), and admins: never the customer who rated.
    hub.subscribe('rating.created', ({ rating, participants, teamId }) => {
      if (teamId === null) return;
      const conversation = sidesOf(rating.conversation_id, participants, teamId);
      realtime.teams.withTeam(conversation, (team) => {
        const users = teamRecipients(teamId, team, false).filter((user) => user !== conversation.customerId);
        realtime.broadcast({ type: 'rating', ...rating }, { users, admins: true });
      });
    }),

    // Level 1: the assignee (in the queue: every member), the owner and supervisors; level 2: the owner and supervisors.
    hub.subscribe(
      'conversation.slow_reply',
      ({ conversation, level, waitingSince, waitedSeconds, thresholdSeconds }) => {
        const { id, participants, teamId } = conversation;
        if (teamId === null) return;
        const sides = sidesOf(id, participants, teamId);
        realtime.teams.withTeam(sides, (team) => {
          const audience = level === 1 ? team : { members: team.members, assigneeId: null };
          const users = teamRecipients(teamId, audience, level === 1).filter((user) => user !== sides.customerId);
          realtime.broadcast(
            {
              type: 'slow_reply',
              conversation_id: id,
              team_id: teamId,
              assignee_id: team.assigneeId,
              level,
              waiting_since: waitingSince,
              waited_seconds: waitedSeconds,
              threshold_seconds: thresholdSeconds,
            },
            { users, admins: false },
          );
        });
      },
    ),

    hub.subscribe('sessions.revoked', (event) => realtime.revokeSessions(event)),
  ];
  return () => {
    for (const unsubscribe of unsubscribers) unsubscribe();
  };
}
