import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closedSince, isOpen, type Schedule } from '../src/modules/auto-replies/business-hours.ts';
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
