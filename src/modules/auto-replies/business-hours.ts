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

/** "HH:MM" → minutes since midnight ("24:00" → 1440). */
export const minutesOf = (clock: string): number => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/** The local date `days` before `date` (calendar arithmetic, no time zone involved). */
function dateBefore(date: string, days: number): { date: string; weekday: number } {
  const at = new Date(`${date}T00:00:00Z`);
  at.setUTCDate(at.getUTCDate() - days);
  return { date: at.toISOString().slice(0, 10), weekday: at.getUTCDay() || 7 };
}

function openAt(schedule: Schedule, date: string, weekday: number, minute: number): boolean {
  if (schedule.daysOff.includes(date)) return false;
  if (schedule.hours.length === 0) return true;
  return schedule.hours.some(
    (slot) => slot.day === weekday && minutesOf(slot.open) <= minute && minute < minutesOf(slot.close),
  );
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
