import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closedSince, isOpen, nextOpening, type Schedule } from '../src/modules/auto-replies/business-hours.ts';
import { compileRules, firstMatch, fold } from '../src/modules/auto-replies/keywords.ts';

/** Unix seconds of a UTC wall-clock time. */
const utc = (iso: string) => Date.parse(`${iso}Z`) / 1000;

/** Weekdays 09:00–18:00, Saturday 10:00–12:00, in Shanghai (UTC+8, no DST); 2026-12-07 is a Monday. */
const shop: Schedule = {
  timezone: 'Asia/Shanghai',
  hours: [
    ...[1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
    { day: 6, open: '10:00', close: '12:00' },
  ],
  daysOff: ['2026-12-09'],
};

describe('business hours (a fixed clock)', () => {
  test('open from the opening minute to the minute before closing, in the team’s time zone', () => {
    assert.equal(isOpen(shop, utc('2026-12-07T00:59:59')), false, 'Monday 08:59:59 Shanghai');
    assert.equal(isOpen(shop, utc('2026-12-07T01:00:00')), true, 'Monday 09:00 Shanghai');
    assert.equal(isOpen(shop, utc('2026-12-07T09:59:59')), true, 'Monday 17:59:59 Shanghai');
    assert.equal(isOpen(shop, utc('2026-12-07T10:00:00')), false, 'Monday 18:00 Shanghai');
  });

  test('the day boundary is the team’s midnight, not UTC’s', () => {
    // Sunday 2026-12-06 23:30 UTC is Monday 07:30 in Shanghai: a weekday, but before opening.
    assert.equal(isOpen(shop, utc('2026-12-06T23:30:00')), false);
    // Friday 2026-12-11 16:30 UTC is Saturday 00:30 in Shanghai; Saturday 10:30 is open.
    assert.equal(isOpen(shop, utc('2026-12-11T16:30:00')), false);
    assert.equal(isOpen(shop, utc('2026-12-12T02:30:00')), true);
    // The same instant in New York (UTC−5 in December) is Monday 20:00: closed there, open in Shanghai.
    const instant = utc('2026-12-08T01:00:00');
    assert.equal(isOpen(shop, instant), true, 'Tuesday 09:00 Shanghai');
    assert.equal(isOpen({ ...shop, timezone: 'America/New_York' }, instant), false, 'Monday 20:00 New York');
  });

  test('a day off is closed all day, in local dates', () => {
    assert.equal(isOpen(shop, utc('2026-12-09T03:00:00')), false, 'Wednesday 11:00, a day off');
    assert.equal(isOpen(shop, utc('2026-12-09T16:30:00')), false, 'Thursday 00:30 Shanghai: closed by the hours');
    assert.equal(isOpen(shop, utc('2026-12-10T01:00:00')), true, 'Thursday 09:00 Shanghai');
  });

  test('no hours: open at all times except the days off', () => {
    const always: Schedule = { timezone: 'Asia/Shanghai', hours: [], daysOff: [] };
    assert.equal(isOpen(always, utc('2026-12-06T19:00:00')), true);
    assert.equal(isOpen({ ...always, daysOff: ['2026-12-07'] }, utc('2026-12-06T19:00:00')), false);
  });

  test('closedSince: when the current closure began (the away period), across midnight and days off', () => {
    // Monday 20:00 → Monday 18:00; Tuesday 08:00 → Monday 18:00 (Shanghai).
    assert.equal(closedSince(shop, utc('2026-12-07T12:00:30')), utc('2026-12-07T10:00:00'));
    assert.equal(closedSince(shop, utc('2026-12-08T00:00:00')), utc('2026-12-07T10:00:00'));
    // Wednesday is a day off: Wednesday noon counts from Tuesday 18:00.
    assert.equal(closedSince(shop, utc('2026-12-09T04:00:00')), utc('2026-12-08T10:00:00'));
    // Open: now.
    assert.equal(closedSince(shop, utc('2026-12-07T02:00:07')), utc('2026-12-07T02:00:07'));
  });
});

describe('overnight business hours (a fixed clock)', () => {
  /** A night shop in Shanghai (UTC+8, no DST): Friday 22:00 to Saturday 02:00; 2026-12-11 is a Friday. */
  const night: Schedule = {
    timezone: 'Asia/Shanghai',
    hours: [{ day: 5, open: '22:00', close: '02:00' }],
    daysOff: [],
  };

  test('a slot whose close is not after its open runs past midnight into the next day', () => {
    assert.equal(isOpen(night, utc('2026-12-11T13:59:59')), false, 'Friday 21:59:59');
    assert.equal(isOpen(night, utc('2026-12-11T14:00:00')), true, 'Friday 22:00');
    assert.equal(isOpen(night, utc('2026-12-11T16:00:00')), true, 'Saturday 00:00');
    assert.equal(isOpen(night, utc('2026-12-11T17:59:59')), true, 'Saturday 01:59:59');
    assert.equal(isOpen(night, utc('2026-12-11T18:00:00')), false, 'Saturday 02:00');
    // The tail belongs to Friday's slot only: Thursday night is closed after midnight.
    assert.equal(isOpen(night, utc('2026-12-10T17:00:00')), false, 'Friday 01:00');
  });

  test('a day off closes its date and the night that starts on it', () => {
    const fridayOff = { ...night, daysOff: ['2026-12-11'] };
    assert.equal(isOpen(fridayOff, utc('2026-12-11T15:00:00')), false, 'Friday 23:00, a day off');
    assert.equal(isOpen(fridayOff, utc('2026-12-11T17:00:00')), false, 'Saturday 01:00, the night of a day off');
    const saturdayOff = { ...night, daysOff: ['2026-12-12'] };
    assert.equal(isOpen(saturdayOff, utc('2026-12-11T15:00:00')), true, 'Friday 23:00');
    assert.equal(isOpen(saturdayOff, utc('2026-12-11T17:00:00')), false, 'Saturday 01:00, a day off');
  });

  test('closedSince and nextOpening across midnight', () => {
    assert.equal(closedSince(night, utc('2026-12-12T04:00:00')), utc('2026-12-11T18:00:00'), 'since Saturday 02:00');
    assert.equal(nextOpening(night, utc('2026-12-12T04:00:00')), utc('2026-12-18T14:00:00'), 'next Friday 22:00');
    assert.equal(nextOpening(night, utc('2026-12-11T17:30:10')), utc('2026-12-11T17:30:10'), 'open: now');
  });

  test('nextOpening: the next opening minute, over days off, in the team’s time zone', () => {
    // Monday 18:00:30 Shanghai → Tuesday 09:00; Tuesday 18:30 → Thursday 09:00 (Wednesday is off).
    assert.equal(nextOpening(shop, utc('2026-12-07T10:00:30')), utc('2026-12-08T01:00:00'));
    assert.equal(nextOpening(shop, utc('2026-12-08T10:30:00')), utc('2026-12-10T01:00:00'));
    assert.equal(nextOpening(shop, utc('2026-12-07T01:00:05')), utc('2026-12-07T01:00:05'), 'open: now');
  });

  test('a DST zone: the opening after the clocks change is found at its new offset', () => {
    // New York: clocks go back on Sunday 2026-11-01 at 02:00 (UTC−4 → UTC−5).
    const ny: Schedule = {
      timezone: 'America/New_York',
      hours: [
        { day: 6, open: '22:00', close: '03:00' },
        { day: 1, open: '09:00', close: '17:00' },
      ],
      daysOff: [],
    };
    // Saturday 2026-10-31 23:00 EDT (03:00Z) is open; Sunday 02:30 EST (07:30Z) too, 03:00 EST (08:00Z) not.
    assert.equal(isOpen(ny, utc('2026-11-01T03:00:00')), true);
    assert.equal(isOpen(ny, utc('2026-11-01T07:30:00')), true);
    assert.equal(isOpen(ny, utc('2026-11-01T08:00:00')), false);
    // From Saturday 12:00 EDT (16:00Z) the next opening is 22:00 EDT (02:00Z), and from Sunday 03:00 EST
    // it is Monday 09:00 EST (14:00Z), after the change: the wall clock, not a fixed offset.
    assert.equal(nextOpening(ny, utc('2026-10-31T16:00:00')), utc('2026-11-01T02:00:00'));
    assert.equal(nextOpening(ny, utc('2026-11-01T08:00:00')), utc('2026-11-02T14:00:00'));
    // Across the spring change too: Saturday 2027-03-13 12:00 EST (17:00Z) → 22:00 EST (03:00Z);
    // Sunday 2027-03-14 12:00 EDT (16:00Z) → Monday 09:00 EDT (13:00Z).
    assert.equal(nextOpening(ny, utc('2027-03-13T17:00:00')), utc('2027-03-14T03:00:00'));
    assert.equal(nextOpening(ny, utc('2027-03-14T16:00:00')), utc('2027-03-15T13:00:00'));
  });
});

describe('keyword rules', () => {
  const rules = compileRules([
    { keywords: ['ＶＩＰ', '会员'], match: 'contains', reply: 'vip' },
    { keywords: ['发票'], match: 'exact', reply: 'invoice exact' },
    { keywords: ['发票', 'Invoice'], match: 'contains', reply: 'invoice' },
    { keywords: ['１２３'], match: 'contains', reply: 'digits' },
  ]);

  test('NFKC and case folding: full-width and half-width forms and letter case match each other', () => {
    assert.equal(fold('ＶＩＰ会员'), 'vip会员');
    assert.equal(firstMatch(rules, '怎么成为vip？')?.reply, 'vip');
    assert.equal(firstMatch(rules, '我是ViP')?.reply, 'vip');
    assert.equal(firstMatch(rules, '订单１２３')?.reply, 'digits');
    assert.equal(firstMatch(rules, '订单123')?.reply, 'digits');
    assert.equal(firstMatch(rules, 'need an INVOICE')?.reply, 'invoice');
  });

  test('exact matches the whole text (trimmed); the first matching rule answers', () => {
    assert.equal(firstMatch(rules, ' 发票 ')?.reply, 'invoice exact');
    assert.equal(firstMatch(rules, '开发票')?.reply, 'invoice');
    assert.equal(firstMatch(rules, '会员发票')?.reply, 'vip');
    assert.equal(firstMatch(rules, '你好'), undefined);
  });
});
