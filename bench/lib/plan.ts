/**
 * How long and how large each scenario runs in each mode. quick (the
 * default) fits in 5 minutes on the 2-core machine; full runs longer and
 * larger; smoke only checks that the harness works (seconds, tiny sizes,
 * numbers meaningless).
 */

export type Mode = 'smoke' | 'quick' | 'full';

export const SCENARIOS = [
  'footprint',
  'rest',
  'send',
  'latency',
  'guard',
  'fanout',
  'idle',
  'history',
  'lists',
  'search',
  'webhooks',
  'teams',
  'reports',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Plan {
  /** Buyer–merchant pairs connected for send / latency / fan-out, and admins online meanwhile. */
  pairs: number;
  admins: number;
  /** Processes holding the pairs' sockets. */
  pairWorkers: number;
  rest: { connections: number; warmupMs: number; durationMs: number };
  send: { concurrencies: number[]; warmupMs: number; durationMs: number; floorDurationMs: number };
  latency: { warmupMs: number; durationMs: number };
  fanout: {
    adminCounts: number[];
    warmupMs: number;
    stepMs: number;
    /**
     * First step's deliveries/s (at most a quarter of the send scenario's
     * maximum message rate, when known); each next step doubles the rate.
     */
    firstDeliveries: number;
    maxSteps: number;
    /** Steps of the bare server, which starts at the service's best rate. */
    maxBareSteps: number;
  };
  idle: { counts: number[]; cpuWindowMs: number; heartbeatMs: number };
  history: {
    /** Messages in the one long conversation. */
    messages: number;
    /** Other conversations' messages in the table (10,000,000 in all in full). */
    otherMessages: number;
    otherConversations: number;
    warmupMs: number;
    durationMs: number;
    /** Also measure random pages (500 of them, in turn): the buffer pool's share. */
    randomPages: boolean;
  };
  lists: {
    /** Messages in the attacking buyer's conversation. */
    messages: number;
    /** Messages in the timed user's conversation, and spread over the other buyers' conversations. */
    victimMessages: number;
    otherMessages: number;
    otherBuyers: number;
    /** Closed-loop keep-alive connections of the attacking buyer. */
    attackerConnections: number;
    warmupMs: number;
    durationMs: number;
  };
  search: {
    /** Messages loaded with their index rows, in `conversations` conversations. */
    messages: number;
    conversations: number;
    /** Share of the messages in the one conversation the limited search looks in. */
    focusShare: number;
    warmupMs: number;
    durationMs: number;
  };
  webhooks: {
    /** Send concurrencies measured with one endpoint subscribed to message.created (and delivered meanwhile). */
    concurrencies: number[];
    warmupMs: number;
    durationMs: number;
    floorDurationMs: number;
    /** Events committed at once for the delivery-rate figure (the drain of a backlog). */
    backlog: number;
  };
  /** Automatic assignment (issue 13): buyers writing once each to one shop's agents. */
  teams: { buyers: number; agents: number; capacity: number; spreadMs: number; settleMs: number };
  /** One team's history (half buyer turns, half answers) over `days` days, reported over all of them. */
  reports: { messages: number; agents: number; days: number; warmupMs: number; durationMs: number };
  /** A CPU profile of the server per scenario (an extra window, not counted in the figures). */
  profileMs: number;
}

export function planFor(mode: Mode): Plan {
  switch (mode) {
    case 'smoke':
      return {
        pairs: 100,
        admins: 10,
        pairWorkers: 2,
        rest: { connections: 16, warmupMs: 300, durationMs: 1_500 },
        send: { concurrencies: [4, 16], warmupMs: 300, durationMs: 1_500, floorDurationMs: 1_500 },
        latency: { warmupMs: 300, durationMs: 2_000 },
        fanout: {
          adminCounts: [10, 100],
          warmupMs: 300,
          stepMs: 1_000,
          firstDeliveries: 2_000,
          maxSteps: 2,
          maxBareSteps: 2,
        },
        idle: { counts: [500], cpuWindowMs: 3_000, heartbeatMs: 30_000 },
        history: {
          messages: 20_000,
          otherMessages: 0,
          otherConversations: 0,
          warmupMs: 300,
          durationMs: 1_000,
          randomPages: false,
        },
        lists: {
          messages: 20_000,
          victimMessages: 500,
          otherMessages: 5_000,
          otherBuyers: 10,
          attackerConnections: 40,
          warmupMs: 300,
          durationMs: 1_500,
        },
        search: { messages: 20_000, conversations: 100, focusShare: 0.1, warmupMs: 300, durationMs: 1_000 },
        webhooks: { concurrencies: [16], warmupMs: 300, durationMs: 1_500, floorDurationMs: 1_500, backlog: 2_000 },
        teams: { buyers: 40, agents: 4, capacity: 10, spreadMs: 1_000, settleMs: 5_000 },
        reports: { messages: 4_000, agents: 4, days: 90, warmupMs: 200, durationMs: 1_000 },
        profileMs: 1_500,
      };
    case 'quick':
      return {
        pairs: 1_000,
        admins: 10,
        pairWorkers: 2,
        rest: { connections: 32, warmupMs: 1_000, durationMs: 4_000 },
        send: { concurrencies: [4, 16, 64], warmupMs: 1_000, durationMs: 3_000, floorDurationMs: 3_000 },
        latency: { warmupMs: 1_000, durationMs: 8_000 },
        fanout: {
          adminCounts: [10, 100, 1_000],
          warmupMs: 500,
          stepMs: 1_500,
          firstDeliveries: 16_000,
          maxSteps: 5,
          maxBareSteps: 3,
        },
        idle: { counts: [10_000], cpuWindowMs: 30_000, heartbeatMs: 30_000 },
        history: {
          messages: 1_000_000,
          otherMessages: 0,
          otherConversations: 0,
          warmupMs: 300,
          durationMs: 2_000,
          randomPages: false,
        },
        lists: {
          messages: 250_000,
          victimMessages: 1_000,
          otherMessages: 50_000,
          otherBuyers: 100,
          attackerConnections: 40,
          warmupMs: 1_000,
          durationMs: 8_000,
        },
        search: { messages: 300_000, conversations: 1_000, focusShare: 0.1, warmupMs: 500, durationMs: 3_000 },
        webhooks: {
          concurrencies: [4, 16, 64],
          warmupMs: 1_000,
          durationMs: 3_000,
          floorDurationMs: 3_000,
          backlog: 20_000,
        },
        teams: { buyers: 200, agents: 20, capacity: 10, spreadMs: 4_000, settleMs: 10_000 },
        reports: { messages: 200_000, agents: 20, days: 90, warmupMs: 500, durationMs: 3_000 },
        profileMs: 3_000,
      };
    case 'full':
      return {
        pairs: 1_000,
        admins: 10,
        pairWorkers: 2,
        rest: { connections: 64, warmupMs: 3_000, durationMs: 20_000 },
        send: {
          // The floor opens c connections: 64 leaves room under max_connections (151 by default).
          concurrencies: [1, 2, 4, 8, 16, 32, 64],
          warmupMs: 3_000,
          durationMs: 15_000,
          floorDurationMs: 10_000,
        },
        latency: { warmupMs: 3_000, durationMs: 60_000 },
        fanout: {
          adminCounts: [10, 100, 1_000],
          warmupMs: 1_000,
          stepMs: 5_000,
          firstDeliveries: 4_000,
          maxSteps: 8,
          maxBareSteps: 8,
        },
        idle: { counts: [10_000, 50_000], cpuWindowMs: 90_000, heartbeatMs: 30_000 },
        history: {
          messages: 1_000_000,
          otherMessages: 9_000_000,
          otherConversations: 9_000,
          warmupMs: 2_000,
          durationMs: 15_000,
          randomPages: true,
        },
        lists: {
          messages: 250_000,
          victimMessages: 1_000,
          otherMessages: 50_000,
          otherBuyers: 100,
          attackerConnections: 40,
          warmupMs: 3_000,
          durationMs: 30_000,
        },
        search: { messages: 10_000_000, conversations: 10_000, focusShare: 0.1, warmupMs: 2_000, durationMs: 15_000 },
        webhooks: {
          concurrencies: [1, 4, 16, 32, 64],
          warmupMs: 3_000,
          durationMs: 15_000,
          floorDurationMs: 10_000,
          backlog: 100_000,
        },
        teams: { buyers: 2_000, agents: 200, capacity: 10, spreadMs: 20_000, settleMs: 30_000 },
        reports: { messages: 1_000_000, agents: 50, days: 90, warmupMs: 2_000, durationMs: 15_000 },
        profileMs: 5_000,
      };
  }
}

/**
 * A plan with parts replaced from BENCH_PLAN (JSON, merged one level deep),
 * e.g. BENCH_PLAN='{"idle":{"counts":[20000]},"history":{"messages":200000}}'.
 */
export function planWithOverrides(mode: Mode, overrides: string | undefined): Plan {
  const plan = planFor(mode) as unknown as Record<string, unknown>;
  if (!overrides) return plan as unknown as Plan;
  const parsed = JSON.parse(overrides) as Record<string, unknown>;
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in plan)) throw new Error(`BENCH_PLAN: unknown part "${key}"`);
    const current = plan[key];
    plan[key] =
      current && typeof current === 'object' && !Array.isArray(current) && value && typeof value === 'object'
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return plan as unknown as Plan;
}
