import type { BusinessHoursSlot } from '@cs-chat/contracts/rest/team.schemas';

/**
 * Business hours (issue 14), pure: whether a team is open at an instant, in
 * its IANA time zone, and since when it has been closed. No I/O, the clock is
 * an argument (tests fix it).
 */
export interface Schedule {
  timezone: string;
  /** Empty: open at all hours, except the days off. */
  hours: readonly BusinessHoursSlot[];
  /** YYYY-MM-DD in the time zone, closed all day. */
  daysOff: readonly string[];
}

/** The wall clock of `timezone` at `unixSeconds`. */
interface LocalTime {
  date: string;
  /** ISO weekday: 1 Monday … 7 Sunday. */
  weekday: number;
  /** Minutes since local midnight. */
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `timezone` is an IANA name this runtime knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    formatterOf(timezone);
    return true;
  } catch {
    return false;
  }
}

function formatterOf(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

function localTime(timezone: string, unixSeconds: number): LocalTime {
  const parts: Record<string, string> = {};
  for (const part of formatterOf(timezone).formatToParts(unixSeconds * 1000)) parts[part.type] = part.value;
  const [year, month, day] = [Number(parts.year), Number(parts.month), Number(parts.day)];
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay() || 7;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** The local date (YYYY-MM-DD) of `unixSeconds` in `timezone`. */
export const localDateOf = (timezone: string, unixSeconds: number): string => localTime(timezone, unixSeconds).date;

/** "HH:MM" → minutes since midnight ("24:00" → 1440). */
export const minutesOf = (clock: string): number => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/** The local date `days` before `date` (calendar arithmetic, no time zone involved). */
function dateBefore(date: string, days: number): { date: string; weekday: number } {
  const at = new Date(`${date}T00:00:00Z`);
  at.setUTCDate(at.getUTCDate() - days);
  return { date: at.toISOString().slice(0, 10), weekday: at.getUTCDay() || 7 };
}

/** The ISO weekday before `weekday`. */
const weekdayBefore = (weekday: number) => (weekday === 1 ? 7 : weekday - 1);

/**
 * Whether the schedule is open at `minute` of local `date`. A slot whose `close` is not after
 * its `open` runs overnight: from `open` on its day until `close` the next day (22:00–02:00).
 * A day off closes its whole date, and the night of a slot that starts on a day off.
 */
function openAt(schedule: Schedule, date: string, weekday: number, minute: number): boolean {
  if (schedule.daysOff.includes(date)) return false;
  if (schedule.hours.length === 0) return true;
  return schedule.hours.some((slot) => {
    const open = minutesOf(slot.open);
    const close = minutesOf(slot.close);
    if (open < close) return slot.day === weekday && open <= minute && minute < close;
    if (slot.day === weekday && minute >= open) return true;
    return (
      slot.day === weekdayBefore(weekday) &&
      minute < close &&
      (schedule.daysOff.length === 0 || !schedule.daysOff.includes(dateBefore(date, 1).date))
    );
  });
}

/** Whether the team is open at `unixSeconds`. */
export function isOpen(schedule: Schedule, unixSeconds: number): boolean {
  const local = localTime(schedule.timezone, unixSeconds);
  return openAt(schedule, local.date, local.weekday, local.minute);
}

/** How far back closedSince looks: a longer closure counts from then. */
const LOOKBACK_DAYS = 14;

/**
 * When the closure the team is in at `unixSeconds` began (the start of the
 * current away period), walking back minute by minute on the local wall clock
 * (a DST change inside the closure shifts it by that hour); at most
 * LOOKBACK_DAYS back. `unixSeconds` itself when the team is open.
 */
export function closedSince(schedule: Schedule, unixSeconds: number): number {
  const local = localTime(schedule.timezone, unixSeconds);
  if (openAt(schedule, local.date, local.weekday, local.minute)) return unixSeconds;
  const minuteStart = unixSeconds - (unixSeconds % 60);
  // `back` minutes before the current one; the closure began the minute after the last open one.
  let back = 1;
  for (let day = 0; day <= LOOKBACK_DAYS; day++) {
    const { date, weekday } = day === 0 ? local : dateBefore(local.date, day);
    for (let minute = day === 0 ? local.minute - 1 : 1439; minute >= 0; minute--, back++) {
      if (openAt(schedule, date, weekday, minute)) return minuteStart - (back - 1) * 60;
    }
  }
  return minuteStart - (back - 1) * 60;
}

/** The local date `days` after `date`. */
const dateAfter = (date: string, days: number) => dateBefore(date, -days);

/** Minutes between two local wall-clock times (dates and minutes), ignoring time zones. */
function wallMinutesBetween(from: LocalTime, to: { date: string; minute: number }): number {
  const day = (date: string) => Date.parse(`${date}T00:00:00Z`) / 60_000;
  return day(to.date) + to.minute - (day(from.date) + from.minute);
}

/**
 * When the team next opens at or after `unixSeconds`: `unixSeconds` itself when open, else the
 * first open minute, walking forward on the local wall clock (overnight slots and days off as
 * isOpen sees them) and converting back with the offset there (a DST change is accounted for);
 * at most LOOKBACK_DAYS ahead, else `unixSeconds` (a schedule that never opens counts from then).
 */
export function nextOpening(schedule: Schedule, unixSeconds: number): number {
  const local = localTime(schedule.timezone, unixSeconds);
  if (openAt(schedule, local.date, local.weekday, local.minute)) return unixSeconds;
  const minuteStart = unixSeconds - (unixSeconds % 60);
  for (let day = 0; day <= LOOKBACK_DAYS; day++) {
    const { date, weekday } = day === 0 ? local : dateAfter(local.date, day);
    for (let minute = day === 0 ? local.minute + 1 : 0; minute < 1440; minute++) {
      if (!openAt(schedule, date, weekday, minute)) continue;
      // The same offset as now first; then corrected by what the wall clock shows there.
      const guess = minuteStart + wallMinutesBetween(local, { date, minute }) * 60;
      const shown = localTime(schedule.timezone, guess);
      return guess + wallMinutesBetween(shown, { date, minute }) * 60;
    }
  }
  return unixSeconds;
}
