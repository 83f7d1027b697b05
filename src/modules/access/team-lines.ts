/**
 * The team's lines (issue 13, docs/REALTIME.md "Teams"): who on a team's side
 * hears of a conversation. One rule for messages, typing and presence alike:
 * realtime's push audiences and the access module's presence queries both ask it.
 */

/** A team member other than its owner, as audiences need them. */
export interface RosterMember {
  id: string;
  role: 'supervisor' | 'agent';
}

/** What is known of a team when one of its conversations is concerned. */
export interface TeamSide {
  members: readonly RosterMember[];
  assigneeId: string | null;
}

/**
 * The team side of a conversation: the owner and supervisors always; then the
 * assignee, or when nobody holds it and `queue` is set (the customer is the
 * one speaking), every member: only the online ones have connections to reach.
 */
export function teamRecipients(teamId: string, side: TeamSide, queue: boolean): string[] {
  const users = new Set([teamId]);
  for (const member of side.members) {
    if (member.role === 'supervisor') users.add(member.id);
    else if (side.assigneeId === null && queue) users.add(member.id);
  }
  if (side.assigneeId !== null) users.add(side.assigneeId);
  return [...users];
}
