import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { isOpen, type Schedule } from '../src/modules/auto-replies/business-hours.ts';
import { createReportFollower } from '../src/modules/reports/report-follower.ts';
import { bucketOf } from '../src/modules/reports/response-histogram.ts';
import { testDialects } from './helpers/databases.ts';
import { historyWriter } from './helpers/report-history.ts';
import { startTestApp, type TestApp } from './helpers/test-app.ts';

/**
 * Issue 14's report figures against a brute force: for any generated history of a
 * team (buyers writing, members answering, transfers with their system messages,
 * auto replies, platform posts, resolves and reopens, ratings, business hours in a
 * zone with or without DST, overnight slots, days off), the report the follower's
 * daily figures give (per day, per member, totals) equals what a plain pass over
 * the history computes by the README's definitions. The follower runs with tiny
 * rounds (a few messages, two conversations), so ranges are cut everywhere.
 */

type Kind = 'buyer' | 'member' | 'auto' | 'system' | 'platform' | 'transfer' | 'resolve' | 'rating';
interface Step {
  conversation: number;
  kind: Kind;
  who: number;
  gap: number;
  score: number;
}

const step: fc.Arbitrary<Step> = fc.record({
  conversation: fc.nat({ max: 2 }),
  kind: fc.constantFrom<Kind>(
    'buyer',
    'buyer',
    'buyer',
    'member',
    'member',
    'member',
    'auto',
    'system',
    'platform',
    'transfer',
    'resolve',
    'rating',
  ),
  who: fc.nat({ max: 3 }),
  gap: fc.oneof(
    { weight: 5, arbitrary: fc.nat({ max: 240 }) },
    { weight: 2, arbitrary: fc.nat({ max: 4_000 }) },
    { weight: 1, arbitrary: fc.nat({ max: 150_000 }) },
  ),
  score: fc.integer({ min: 1, max: 5 }),
});

const SCHEDULES: { timezone: string; hours: Schedule['hours']; daysOff: string[] }[] = [
  { timezone: 'Asia/Shanghai', hours: [], daysOff: [] },
  {
    timezone: 'Asia/Shanghai',
    hours: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
    daysOff: ['2026-11-04'],
  },
  {
    timezone: 'America/New_York',
    hours: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day, open: '20:00', close: '02:00' })),
    daysOff: ['2026-11-07'],
  },
  { timezone: 'America/New_York', hours: [], daysOff: [] },
];

/** 2026-10-31 12:00 UTC: New York's clocks go back the next morning. */
const START = Date.parse('2026-10-31T12:00:00Z') / 1000;
const RUNS = 15;

interface Figures {
  conversations: number;
  buyer_turns: number;
  answered: number;
  unanswered: number | null;
  team_messages: number;
  first: number[];
  response: number[];
  resolved: number;
  ratings: number[];
}
const empty = (): Figures => ({
  conversations: 0,
  buyer_turns: 0,
  answered: 0,
  unanswered: 0,
  team_messages: 0,
  first: [],
  response: [],
  resolved: 0,
  ratings: [],
});

/** Nearest rank on the exact times, then the histogram's bucket (the README's precision). */
function nearestRank(times: number[], p: number): number | null {
  if (times.length === 0) return null;
  const sorted = [...times].sort((a, b) => a - b);
  return bucketOf(sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1] as number);
}
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function present(f: Figures, view: 'team' | 'agent') {
  const within = f.response.filter((s) => s <= 180).length;
  return {
    conversations: view === 'team' ? f.conversations : f.first.length,
    buyer_turns: view === 'team' ? f.buyer_turns : f.answered,
    answered: f.answered,
    unanswered: view === 'team' ? f.buyer_turns - f.answered : null,
    team_messages: f.team_messages,
    first_response_p50: nearestRank(f.first, 0.5),
    first_response_p90: nearestRank(f.first, 0.9),
    response_p50: nearestRank(f.response, 0.5),
    response_p90: nearestRank(f.response, 0.9),
    response_rate_3min: f.answered === 0 ? null : round(within / f.answered, 4),
    resolved: f.resolved,
    ratings: f.ratings.length,
    rating_average: f.ratings.length === 0 ? null : round(f.ratings.reduce((a, b) => a + b, 0) / f.ratings.length, 2),
  };
}

/** The first open minute at or after `at`, minute by minute in absolute time (no wall-clock arithmetic). */
function opensAt(schedule: Schedule, at: number): number {
  if (isOpen(schedule, at)) return at;
  for (let t = at - (at % 60) + 60; t < at + 15 * 86_400; t += 60) if (isOpen(schedule, t)) return t;
  return at;
}

for (const dialect of testDialects) {
  describe(`report figures against a brute force (${dialect.name})`, () => {
    let app: TestApp;
    const tokens: Record<string, string> = {};
    let run = 0;

    before(async () => {
      app = await startTestApp(dialect, { server: { reportFollower: { enabled: false } } });
      Object.assign(tokens, await app.addUsers({ b1: 'buyer', b2: 'buyer', b3: 'buyer', a1: 'admin', p1: 'service' }));
    });
    after(() => app.close());

    test('every day, every member and the totals equal the brute force', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 10, maxLength: 60, size: 'max' }),
          fc.nat({ max: SCHEDULES.length - 1 }),
          async (steps, scheduleIndex) => {
            run += 1;
            const owner = `m${run}`;
            const members = [owner, `${owner}s`, `${owner}a`, `${owner}b`];
            tokens[owner] = await app.addUser(owner, 'merchant');
            await app.addUser(members[1] as string, 'merchant', { team_id: owner, team_role: 'supervisor' });
            await app.addUser(members[2] as string, 'merchant', { team_id: owner, team_role: 'agent' });
            await app.addUser(members[3] as string, 'merchant', { team_id: owner, team_role: 'agent' });
            const setting = SCHEDULES[scheduleIndex] as (typeof SCHEDULES)[number];
            const schedule: Schedule | null =
              setting.hours.length === 0 && setting.daysOff.length === 0
                ? null
                : { timezone: setting.timezone, hours: setting.hours, daysOff: setting.daysOff };
            const db = app.server.database.db;
            await db
              .updateTable('teams')
              .set({
                auto_assign: 0,
                timezone: setting.timezone,
                business_hours: setting.hours.length ? JSON.stringify(setting.hours) : null,
                days_off: setting.daysOff.length ? JSON.stringify(setting.daysOff) : null,
              })
              .where('owner_id', '=', owner)
              .execute();
            const buyers = ['b1', 'b2', 'b3'];
            const conversationIds: string[] = [];
            for (const buyer of buyers) {
              conversationIds.push(await app.conversation(tokens[buyer] as string, buyer, owner));
            }

            // The brute force's state, per conversation, and its figures per day and member.
            const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: setting.timezone });
            const dayOf = (at: number) => dayFormat.format(at * 1000);
            const byDay = new Map<string, Figures>();
            const byMember = new Map<string, Figures>();
            const total = empty();
            const credit = (day: string | null, member: string | null, change: (f: Figures) => void) => {
              change(total);
              if (day !== null) {
                if (!byDay.has(day)) byDay.set(day, empty());
                change(byDay.get(day) as Figures);
              }
              if (member !== null) {
                if (!byMember.has(member)) byMember.set(member, empty());
                change(byMember.get(member) as Figures);
              }
            };
            const state = conversationIds.map(() => ({
              turn: null as null | { from: number; day: string; first: boolean },
              episodeStarted: false,
              assignee: null as string | null,
              resolved: false,
              rated: false,
            }));
            const write = historyWriter(db);
            let at = START + run * 7;
            const days = new Set<string>();
            for (const s of steps) {
              at += s.gap;
              const id = conversationIds[s.conversation] as string;
              const c = state[s.conversation] as (typeof state)[number];
              const buyer = buyers[s.conversation] as string;
              const member = members[s.who] as string;
              days.add(dayOf(at));
              switch (s.kind) {
                case 'buyer': {
                  await write.message(id, { sender: buyer, at });
                  c.resolved = false;
                  if (c.turn) break;
                  const first = !c.episodeStarted;
                  c.episodeStarted = true;
                  c.turn = { from: schedule ? opensAt(schedule, at) : at, day: dayOf(at), first };
                  credit(dayOf(at), null, (f) => {
                    f.buyer_turns += 1;
                    if (first) f.conversations += 1;
                  });
                  break;
                }
                case 'member': {
                  await write.message(id, { sender: member, at });
                  credit(dayOf(at), member, (f) => {
                    f.team_messages += 1;
                  });
                  const turn = c.turn;
                  if (!turn) break;
                  const seconds = Math.max(0, at - turn.from);
                  credit(turn.day, member, (f) => {
                    f.answered += 1;
                    f.response.push(seconds);
                    if (turn.first) f.first.push(seconds);
                  });
                  c.turn = null;
                  break;
                }
                case 'auto':
                  await write.message(id, { sender: owner, at, auto: true });
                  break;
                case 'system':
                  await write.message(id, { sender: owner, at, type: 'system' });
                  break;
                case 'platform':
                  await write.message(id, { sender: 'p1', at, type: 'platform' });
                  break;
                case 'transfer':
                  c.assignee = member;
                  await write.message(id, { sender: owner, at, type: 'system' });
                  break;
                case 'resolve': {
                  if (c.resolved) break;
                  const resolver = s.who === 0 ? null : member;
                  await write.resolve(id, resolver, at);
                  credit(dayOf(at), resolver, (f) => {
                    f.resolved += 1;
                  });
                  c.turn = null;
                  c.episodeStarted = false;
                  c.resolved = true;
                  c.rated = false;
                  break;
                }
                case 'rating': {
                  if (!c.resolved || c.rated) break;
                  c.rated = true;
                  await write.rating(owner, c.assignee, s.score, at);
                  credit(dayOf(at), c.assignee, (f) => {
                    f.ratings.push(s.score);
                  });
                  break;
                }
              }
            }

            const follower = createReportFollower({
              db,
              logger: { warn: (details, message) => assert.fail(`${message}: ${JSON.stringify(details)}`) },
              options: { messagesPerRound: 5, conversationsPerRound: 2, lookahead: 4 },
            });
            await follower.drain();

            const sortedDays = [...days].sort();
            const [from, to] = [sortedDays[0] as string, sortedDays[sortedDays.length - 1] as string];
            const token = tokens.a1 as string;
            const daily = await app.client.get(`/api/reports/teams/${owner}?from=${from}&to=${to}`, { token });
            assert.equal(daily.status, 200, JSON.stringify(daily.body));
            assert.deepEqual(daily.body.totals, {
              day: null,
              agent_id: null,
              agent_name: null,
              ...present(total, 'team'),
            });
            for (const row of daily.body.rows) {
              assert.deepEqual(
                row,
                { day: row.day, agent_id: null, agent_name: null, ...present(byDay.get(row.day) ?? empty(), 'team') },
                `day ${row.day}`,
              );
            }
            const agents = await app.client.get(`/api/reports/teams/${owner}?from=${from}&to=${to}&group=agent`, {
              token,
            });
            assert.equal(agents.status, 200);
            const expectedMembers = [...byMember.keys()].sort();
            assert.deepEqual(agents.body.rows.map((row: { agent_id: string }) => row.agent_id).sort(), expectedMembers);
            for (const row of agents.body.rows) {
              const { day: _day, agent_id: _id, agent_name: _name, ...figures } = row;
              assert.deepEqual(
                figures,
                present(byMember.get(row.agent_id) as Figures, 'agent'),
                `member ${row.agent_id}`,
              );
            }
          },
        ),
        { numRuns: RUNS },
      );
    });
  });
}
