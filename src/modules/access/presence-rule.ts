import type { UserRow } from '../../db/types.ts';

/**
 * Who shares presence (docs/REALTIME.md, "Presence"): the two participants of
 * a conversation in which the customer side took part, by starting it or by
 * writing in it. This module names the customer side; the queries are in
 * access.repository.ts.
 */

type Role = UserRow['role'];

/**
 * Roles from the customer side outwards: in a conversation, the participant
 * whose role comes first is the customer (a buyer with a merchant or a service
 * agent; a merchant with a service agent).
 */
const CUSTOMER_FIRST: readonly Role[] = ['buyer', 'merchant', 'service'];

/** The roles a user of `role` is the customer of. */
export function rolesServing(role: Role): Role[] {
  const rank = CUSTOMER_FIRST.indexOf(role);
  return rank < 0 ? [] : CUSTOMER_FIRST.slice(rank + 1);
}

/** Whether a user of `role` can be the customer side of any conversation (service agents never are). */
export function canBeCustomer(role: Role): boolean {
  return rolesServing(role).length > 0;
}

/** The customer side of a pair; the second when neither role serves the other (a pair no rule allows). */
export function customerOf<P extends Pick<UserRow, 'id' | 'role'>>(a: P, b: P): P {
  return rolesServing(a.role).includes(b.role) ? a : b;
}
