import type WebSocket from 'ws';
import { sleep } from '../lib/clock.ts';
import type { BenchContext } from '../lib/context.ts';
import { insertConversations, insertUsers } from '../lib/database.ts';
import { Histogram } from '../lib/histogram.ts';
import { openSocket } from '../workers/ws-common.ts';

/**
 * Teams (issue 13): automatic assignment under load. One shop of `agents`
 * agents with capacity `capacity` each; `buyers` buyers each write once, spread
 * over `spreadMs`, while some agents go offline and others come online.
 * Assignment latency is the buyer's send (before the POST) → the
 * `conversation_updated` naming the assignee on an agent's socket; capacity is
 * sampled from the database throughout: no agent may ever hold more than it.
 */

const SHOP = 'tm0001';
const pad = (n: number) => String(n).padStart(4, '0');

export async function runTeams(ctx: BenchContext): Promise<void> {
  const plan = ctx.plan.teams;
  const agents = Array.from({ length: plan.agents }, (_, i) => `ta${pad(i + 1)}`);
  const buyers = Array.from({ length: plan.buyers }, (_, i) => `tb${pad(i + 1)}`);
  const db = ctx.db.db;
  if (!ctx.shared.teamsSeeded) {
    await insertUsers(db, [
      { id: SHOP, role: 'merchant' },
      ...agents.map((id) => ({ id, role: 'merchant' as const })),
      ...buyers.map((id) => ({ id, role: 'buyer' as const })),
    ]);
    // The agents join the shop's team instead of owning their own.
    await db.deleteFrom('teams').where('owner_id', 'in', agents).execute();
    await db.updateTable('users').set({ team_id: SHOP, team_role: 'agent' }).where('id', 'in', agents).execute();
    await db.updateTable('teams').set({ max_open_per_agent: plan.capacity }).where('owner_id', '=', SHOP).execute();
    await insertConversations(
      db,
      buyers.map((buyer) => [buyer, SHOP] as [string, string]),
    );
    ctx.shared.teamsSeeded = true;
  }
  const conversations = new Map(
    (
      await db
        .selectFrom('conversations')
        .select(['id', 'participant1_id', 'participant2_id'])
        .where('team_id', '=', SHOP)
        .execute()
    ).map((row) => [row.participant1_id === SHOP ? row.participant2_id : row.participant1_id, row.id]),
  );
  const service = await ctx.ensureService({ fresh: true });
  const sentAt = new Map<string, number>();
  const assignedAt = new Map<string, number>();
  const sockets = new Map<string, WebSocket>();
  const connect = async (agent: string) => {
    const token = await ctx.token(agent, 'merchant');
    const ws = await openSocket({
      url: `${service.wsBase}/api/ws/${agent}`,
      token,
      waitForType: 'online_users',
      onMessage: (data) => {
        const event = JSON.parse(data.toString());
        if (event.type === 'conversation_updated' && event.change === 'assignment' && event.assignee_id) {
          if (!assignedAt.has(event.conversation_id)) assignedAt.set(event.conversation_id, performance.now());
        }
      },
    });
    sockets.set(agent, ws);
  };
  const disconnect = (agent: string) => {
    sockets.get(agent)?.close();
    sockets.delete(agent);
  };

  let maxHeld = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rows = await db
        .selectFrom('conversations')
        .select((eb) => ['assignee_id', eb.fn.countAll<number>().as('n')])
        .where('team_id', '=', SHOP)
        .where('assignee_id', 'is not', null)
        .where('status', '!=', 'resolved')
        .groupBy('assignee_id')
        .execute();
      for (const row of rows) maxHeld = Math.max(maxHeld, Number(row.n));
      await sleep(100);
    }
  })();

  try {
    // Three quarters of the agents online at the start; the rest come online half-way.
    const initially = agents.slice(0, Math.ceil(agents.length * 0.75));
    const later = agents.slice(initially.length);
    for (const agent of initially) await connect(agent);
    ctx.log(
      'teams',
      `${buyers.length} buyers write once over ${plan.spreadMs} ms to ${agents.length} agents (capacity ${plan.capacity}); ${initially.length} online`,
    );
    const tokens = new Map(await Promise.all(buyers.map(async (b) => [b, await ctx.token(b, 'buyer')] as const)));
    const gap = plan.spreadMs / buyers.length;
    const sends: Promise<void>[] = [];
    for (const [i, buyer] of buyers.entries()) {
      const conversationId = conversations.get(buyer) as string;
      if (i === Math.floor(buyers.length / 3)) for (const agent of initially.slice(0, 2)) disconnect(agent);
      if (i === Math.floor(buyers.length / 2)) sends.push(Promise.all(later.map(connect)).then(() => undefined));
      sentAt.set(conversationId, performance.now());
      sends.push(
        fetch(`${service.url}/api/messages/`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens.get(buyer)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ conversation_id: conversationId, content: `买家 ${buyer} 咨询` }),
        }).then(async (response) => {
          if (response.status !== 201) throw new Error(`send ${response.status}: ${await response.text()}`);
        }),
      );
      await sleep(gap);
    }
    // The two who left come back: their arrival drains what is still queued.
    await Promise.all(sends);
    for (const agent of initially.slice(0, 2)) await connect(agent);
    const deadline = performance.now() + plan.settleMs;
    while (assignedAt.size < buyers.length && performance.now() < deadline) await sleep(50);
  } finally {
    sampling = false;
    await sampler;
    for (const agent of [...sockets.keys()]) disconnect(agent);
  }

  const latencies = [...assignedAt].flatMap(([id, at]) => {
    const sent = sentAt.get(id);
    return sent === undefined ? [] : [at - sent];
  });
  const histogram = new Histogram();
  for (const ms of latencies) histogram.recordMs(ms);
  const summary = histogram.summary();
  const final = await db
    .selectFrom('conversations')
    .select((eb) => ['assignee_id', eb.fn.countAll<number>().as('n')])
    .where('team_id', '=', SHOP)
    .where('assignee_id', 'is not', null)
    .groupBy('assignee_id')
    .execute();
  for (const row of final) maxHeld = Math.max(maxHeld, Number(row.n));
  const withinCapacity = maxHeld <= plan.capacity;
  ctx.log(
    'teams',
    `assigned ${assignedAt.size}/${buyers.length}; assignment latency p50 ${summary.p50} p99 ${summary.p99} ms; most held by one agent ${maxHeld} (capacity ${plan.capacity})`,
  );
  ctx.results.teams = {
    buyers: buyers.length,
    agents: agents.length,
    capacity: plan.capacity,
    assigned: assignedAt.size,
    latency: summary,
    maxHeld,
  };
  ctx.addFigure({
    scenario: 'teams',
    name: `Automatic assignment: ${buyers.length} buyers, ${agents.length} agents going on- and offline, capacity ${plan.capacity}`,
    value: `p50 ${summary.p50} / p99 ${summary.p99} ms buyer's message → assigned (${assignedAt.size}/${buyers.length} assigned)`,
    floor: `at most ${maxHeld} held by one agent`,
    ratio: null,
    goal: `no agent above ${plan.capacity}`,
    met: withinCapacity,
    limitedBy: null,
  });
}
