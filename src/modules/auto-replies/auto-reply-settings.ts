import type {
  BusinessHoursSlot,
  KeywordReply,
  TeamSettings,
  UpdateTeamSettingsBody,
} from '@cs-chat/contracts/rest/team.schemas';
import type { TeamRow, TeamsTable } from '../../db/types.ts';
import { badRequest } from '../../lib/errors.ts';
import { isTimeZone } from './business-hours.ts';

/** The time zone of a team that set none. */
export const DEFAULT_TIMEZONE = 'Asia/Shanghai';

type AutoReplySettings = Pick<
  TeamSettings,
  'welcome_message' | 'away_message' | 'timezone' | 'business_hours' | 'days_off' | 'keyword_replies'
>;

type AutoReplyColumns = Partial<
  Pick<TeamsTable, 'welcome_message' | 'away_message' | 'timezone' | 'business_hours' | 'days_off' | 'keyword_replies'>
>;

const listOf = <T>(json: string | null): T[] => (json === null ? [] : (JSON.parse(json) as T[]));

/** The auto-reply settings stored on a team's row (issue 14). */
export function autoReplySettingsOf(team: TeamRow): AutoReplySettings {
  return {
    welcome_message: team.welcome_message,
    away_message: team.away_message,
    timezone: team.timezone ?? DEFAULT_TIMEZONE,
    business_hours: listOf<BusinessHoursSlot>(team.business_hours),
    days_off: listOf<string>(team.days_off),
    keyword_replies: listOf<KeywordReply>(team.keyword_replies),
  };
}

/** Whether any auto reply is set: a team without one costs nothing on a buyer's message. */
export function hasAutoReplies(settings: AutoReplySettings): boolean {
  return settings.welcome_message !== null || settings.away_message !== null || settings.keyword_replies.length > 0;
}

const isRealDate = (date: string) => {
  const at = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(at.getTime()) && at.toISOString().slice(0, 10) === date;
};

/**
 * The columns a settings update writes (fields left out keep their values; an
 * empty string or list turns one off). 400 for an unknown time zone or a day
 * off that is no date. A slot whose `close` is not after its `open` runs
 * overnight, into the next day (business-hours.ts).
 */
export function autoReplyColumns(body: UpdateTeamSettingsBody): AutoReplyColumns {
  const columns: AutoReplyColumns = {};
  const text = (value: string) => (value.trim() === '' ? null : value);
  const list = (value: readonly unknown[]) => (value.length === 0 ? null : JSON.stringify(value));
  if (body.welcome_message !== undefined) columns.welcome_message = text(body.welcome_message);
  if (body.away_message !== undefined) columns.away_message = text(body.away_message);
  if (body.timezone !== undefined) {
    if (!isTimeZone(body.timezone)) throw badRequest('invalid_timezone');
    columns.timezone = body.timezone;
  }
  if (body.business_hours !== undefined) columns.business_hours = list(body.business_hours);
  if (body.days_off !== undefined) {
    if (!body.days_off.every(isRealDate)) throw badRequest('invalid_business_hours');
    columns.days_off = list([...new Set(body.days_off)].sort());
  }
  if (body.keyword_replies !== undefined) columns.keyword_replies = list(body.keyword_replies);
  return columns;
}
