import type { Role } from '@cs-chat/contracts/rest/user.schemas';
import { type BucketPolicy, MINUTE } from '../auth/throttle-store.ts';

/**
 * Usernames as the service stores them, and the names it keeps for staff.
 * Shown next to every message, a username is what a buyer trusts: a name
 * that looks like "平台客服" or "Admin" but is a merchant's, or one that hides
 * characters, is an impersonation.
 */

/**
 * Characters never allowed: controls, format characters (zero-width joiners
 * and spaces, bidi embeddings, overrides and isolates, the BOM, tags, soft
 * hyphen), private use and unassigned code points, line and paragraph
 * separators, and every default-ignorable code point (variation selectors,
 * the combining grapheme joiner, the Hangul fillers some fonts draw as nothing),
 * and the blank braille pattern (U+2800: a symbol, not a space, that every
 * font draws as nothing, so it survives NFKC and trimming).
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/u;

/** Chinese terms reserved wherever they appear in the name (after NFKC). */
const RESERVED_CJK = [
  '客服',
  '官方',
  '管理员',
  '管理員',
  '管理组',
  '平台客服',
  '平台官方',
  '系统通知',
  '系统消息',
  '系統',
];

/**
 * Latin terms reserved as a word, as the start or end of a word (adminteam,
 * customerservice), or as the whole name once everything but letters is
 * removed (a.d.m.i.n).
 */
const RESERVED_LATIN = [
  'admin',
  'administrator',
  'sysadmin',
  'root',
  'moderator',
  'service',
  'support',
  'official',
  'staff',
  'helpdesk',
  'system',
];
const AFFIX_MIN_LENGTH = 5;

/** Letters from other scripts that look like Latin ones (аdmin with a Cyrillic а). */
const LOOKALIKES: Record<string, string> = {
  а: 'a',
  е: 'e',
  о: 'o',
  р: 'p',
  с: 'c',
  у: 'y',
  х: 'x',
  і: 'i',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  һ: 'h',
  ԛ: 'q',
  ԝ: 'w',
  α: 'a',
  ε: 'e',
  ο: 'o',
  ρ: 'p',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ı: 'i',
  ɑ: 'a',
  ɡ: 'g',
  ɪ: 'i',
  ᴅ: 'd',
  ᴍ: 'm',
  ɴ: 'n',
  ᴏ: 'o',
  ʀ: 'r',
  ꜱ: 's',
  ᴛ: 't',
  ᴜ: 'u',
  ᴠ: 'v',
};
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/** NFKC, trimmed, inner runs of white space as one space: the form every write stores. */
export function normaliseUsername(raw: string): string {
  return raw.normalize('NFKC').trim().replace(/\s+/gu, ' ');
}

export function hasForbiddenCharacters(name: string): boolean {
  return FORBIDDEN.test(name);
}

function mapped(text: string, table: Record<string, string>): string {
  return [...text].map((c) => table[c] ?? c).join('');
}

function latinReserved(text: string): boolean {
  const words = text.split(/[^a-z]+/).filter(Boolean);
  const lettersOnly = words.join('');
  return RESERVED_LATIN.some(
    (term) =>
      lettersOnly === term ||
      words.some(
        (word) => word === term || (term.length >= AFFIX_MIN_LENGTH && (word.startsWith(term) || word.endsWith(term))),
      ),
  );
}

/** Whether the name imitates platform staff: folded, look-alikes and digits-for-letters mapped. */
export function imitatesStaff(name: string): boolean {
  // Accents off (NFD, marks removed): "ådmin" and "sérvice" read as admin and service.
  const folded = normaliseUsername(name).normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const compact = folded.replace(/[\s\p{P}\p{S}]/gu, '');
  if (RESERVED_CJK.some((term) => compact.includes(term))) return true;
  const latin = mapped(folded, LOOKALIKES);
  return latinReserved(latin) || latinReserved(mapped(latin, LEET));
}

/** Roles whose accounts may carry a staff name. */
const STAFF_ROLES: readonly Role[] = ['service', 'admin'];

export type UsernameVerdict =
  | { ok: true; username: string }
  | { ok: false; error: 'username_invalid_characters' | 'username_reserved' };

/** The name to store for an account of `role`, or why it is refused (422). */
export function checkUsername(raw: string, role: Role): UsernameVerdict {
  if (hasForbiddenCharacters(raw)) return { ok: false, error: 'username_invalid_characters' };
  const username = normaliseUsername(raw);
  if (username === '' || hasForbiddenCharacters(username)) return { ok: false, error: 'username_invalid_characters' };
  if (!STAFF_ROLES.includes(role) && imitatesStaff(username)) return { ok: false, error: 'username_reserved' };
  return { ok: true, username };
}

/** Renames onto a taken username: 10 free an hour, then 30 s, 1 min, … up to 15 min. */
export const USERNAME_CHECK_POLICY: BucketPolicy = {
  free: 10,
  baseMs: 30_000,
  maxWaitMs: 15 * MINUTE,
  forgetAfterMs: 60 * MINUTE,
};
