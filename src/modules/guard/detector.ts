import type { GuardLabel } from '@cs-chat/contracts/rest/guard.schemas';
import { fold, foldWithOffsets } from '../../lib/search-terms.ts';
import { createWordMatcher } from './aho-corasick.ts';

/**
 * Finds contact details and off-platform lures in chat text, and an admin's
 * sensitive words: pure, no I/O, a few microseconds for a chat line (the send
 * path runs it on every text message; bench `guard` measures it on the
 * labelled corpus in test/fixtures/guard-corpus.tsv).
 *
 * Everything is matched on folded text (NFKC, lower case: full-width `１３８`,
 * `Ｖ信`, `＠` and circled digits become plain ones), and findings are mapped
 * back to the original text, so a mask replaces exactly what was written.
 * Numbers are read as a stream of digits in which Chinese numerals count
 * (`一三八`, `幺`, `壹贰`, `洞`, `拐`, and the letter o among digits) and up
 * to three separators between two digits are skipped (`138 0013-8000`,
 * `1.3.8`, an emoji `138❤0013`; keycaps and zero-width characters cost none),
 * so a number is one run however it was broken up. What a run is depends on
 * its length and on the words just before it: eleven digits from 13–19 are a mainland mobile number
 * unless they are glued to letters (`SKU13800138000A`) or follow a word that
 * introduces a code (订单号, 货号, 快递单号, …); five to eleven after `QQ`
 * or `扣扣` are a QQ number; six or more after `微信`/`vx` a WeChat id.
 */

export interface Finding {
  label: GuardLabel;
  /** Offsets in the original text: [start, end). */
  start: number;
  end: number;
}

export interface Detector {
  /** The findings in `text`, ordered by start; empty for nearly every message. */
  detect(text: string): Finding[];
}

const NUMERALS = new Map<number, string>();
for (const [digit, chars] of [
  ['0', '0零〇洞'],
  ['1', '1一幺壹'],
  ['2', '2二贰貳'],
  ['3', '3三叁參'],
  ['4', '4四肆'],
  ['5', '5五伍'],
  ['6', '6六陆陸'],
  ['7', '7七柒拐'],
  ['8', '8八捌'],
  ['9', '9九玖'],
] as const) {
  for (const char of chars) NUMERALS.set(char.charCodeAt(0), digit);
}
/** What people put between digits to break a number up (folded: full-width forms are already ASCII). */
const SEPARATORS = new Set(Array.from(' \t\n-_.·・,、/\\|*~—–:+()[]【】「」', (char) => char.charCodeAt(0)));
const MAX_SEPARATORS = 3;
/**
 * Inside a number, what is not a digit nor a separator: marks and format
 * characters (emoji variation selectors, the keycap ⃣, combining strokes,
 * zero-width spaces and joiners) are skipped without counting, a symbol or
 * emoji (`138❤0013🔸8000`) counts as one separator.
 */
const INVISIBLE = /^[\p{M}\p{Cf}]$/u;
const SYMBOL = /^[\p{So}\p{Extended_Pictographic}]$/u;
const LETTER_O = 0x6f;

/** Words after which a number is a code, not a phone number (within CONTEXT chars before it). */
const CODE_CONTEXT =
  /订单|单号|货号|型号|编号|编码|代码|批号|批次|条码|条形码|序列号|快递|运单|物流|款号|工单|发票|税号|识别码|取件码|提货码|券码|兑换码|账单|流水|sku|sn|imei|no\.?|id/;
const PHONE_CONTEXT = /电话|手机|号码|打我|致电|来电|联系|call|tel|phone|mobile/;
const QQ_CONTEXT = /qq|扣扣|企鹅|球球|抠抠|寇寇|q号|(?<![a-z])q\s*:/;
const WECHAT_CONTEXT =
  /微信|威信|薇信|徽信|维信|v信|wei信|微xin|vx|wx|weixin|wechat|卫星|绿泡泡|加v|\+v|➕v|加微|微号|(?<![a-z])v\s*:/;
const CONTEXT = 8;

/** A word of ASCII letters glued to a number makes it a code, unless the word names a contact. */
const CONTACT_PREFIXES = new Map<string, GuardLabel>([
  ['tel', 'phone'],
  ['phone', 'phone'],
  ['call', 'phone'],
  ['mobile', 'phone'],
  ['dh', 'phone'],
  ['sj', 'phone'],
  ['qq', 'qq'],
  ['q', 'qq'],
  ['v', 'wechat'],
  ['vx', 'wechat'],
  ['wx', 'wechat'],
  ['wechat', 'wechat'],
  ['weixin', 'wechat'],
]);

const isAsciiLetter = (unit: number) => unit >= 0x61 && unit <= 0x7a;

/** The ASCII word ending at `end` (exclusive), one `-`/`_` before the number allowed. */
function letterWordBefore(text: string, end: number): string {
  let i = end;
  if (i > 0 && (text[i - 1] === '-' || text[i - 1] === '_')) i -= 1;
  let start = i;
  while (start > 0 && isAsciiLetter(text.charCodeAt(start - 1))) start -= 1;
  return text.slice(start, i);
}

function letterAfter(text: string, start: number): boolean {
  let i = start;
  if (text[i] === '-' || text[i] === '_') i += 1;
  return i < text.length && isAsciiLetter(text.charCodeAt(i));
}

/**
 * Where the o's from `at`, inside a number, stop standing for zeros
 * (`138OO138OOO`, `138 oo13 8000`): the end of the o's when they are followed
 * by a digit, or come right after one and end the number; `at` when they are
 * a word (`8000 ok`, `12oz`).
 */
function zeroOsEnd(text: string, at: number, gap: number): number {
  let end = at;
  while (text.charCodeAt(end) === LETTER_O) end += 1;
  if (NUMERALS.has(text.charCodeAt(end))) return end;
  return gap === 0 && !isAsciiLetter(text.charCodeAt(end)) ? end : at;
}

/** What a run of digits is, from its length and what comes just before and after it. */
function classifyRun(text: string, digits: string, start: number, end: number): GuardLabel | undefined {
  let number = digits;
  if (number.startsWith('0086')) number = number.slice(4);
  else if (number.length === 13 && number.startsWith('86')) number = number.slice(2);
  const before = text.slice(Math.max(0, start - CONTEXT), start);
  const word = letterWordBefore(text, start);
  const named = word === '' ? undefined : CONTACT_PREFIXES.get(word);
  if ((named === 'qq' || QQ_CONTEXT.test(before)) && number.length >= 5 && number.length <= 11) return 'qq';
  if ((named === 'wechat' || WECHAT_CONTEXT.test(before)) && number.length >= 6 && number.length <= 20) return 'wechat';
  if (number.length !== 11 || number.charCodeAt(0) !== 0x31 || number.charCodeAt(1) < 0x33) return undefined;
  if (named === 'phone') return 'phone';
  if (word !== '' || letterAfter(text, end)) return undefined;
  if (CODE_CONTEXT.test(before) && !PHONE_CONTEXT.test(before)) return undefined;
  return 'phone';
}

/** Folded-text spans of the numbers in `text` that are contact details. */
type Found = (label: GuardLabel, start: number, end: number) => void;

/** The digits of a run between two separators, and where they are. */
interface DigitGroup {
  digits: string;
  start: number;
  end: number;
}

/** A mainland mobile number's digits, with its country code if written. */
const MOBILE_DIGITS = /^(?:0086|86)?1[3-9]\d{9}$/;

/** The `+` of +86 goes with the number. */
const withPlus = (text: string, start: number) => (text[start - 1] === '+' ? start - 1 : start);

/**
 * A run that is no contact as a whole may hold a mobile number made of some
 * of its groups: `数量 100 13800138000`, two numbers one after the other, a
 * digit put after one (`13800138000 8`). Each is found, left to right.
 */
function phonesWithin(text: string, groups: readonly DigitGroup[], found: Found): void {
  for (let i = 0; i < groups.length; i++) {
    const first = groups[i] as DigitGroup;
    let digits = '';
    for (let j = i; j < groups.length && digits.length < 15; j++) {
      const last = groups[j] as DigitGroup;
      digits += last.digits;
      // Checked whole (context, letters around it) only when its digits could be a mobile number.
      if (!MOBILE_DIGITS.test(digits) || classifyRun(text, digits, first.start, last.end) !== 'phone') continue;
      found('phone', withPlus(text, first.start), last.end);
      i = j;
      break;
    }
  }
}

function numbers(text: string, found: Found): void {
  let digits = '';
  let runStart = -1;
  let lastDigitEnd = -1;
  let gap = 0;
  let groups: DigitGroup[] = [];
  const close = () => {
    if (digits.length >= 5) {
      const label = classifyRun(text, digits, runStart, lastDigitEnd);
      if (label) found(label, withPlus(text, runStart), lastDigitEnd);
      else if (groups.length > 1) phonesWithin(text, groups, found);
    }
    digits = '';
    runStart = -1;
    gap = 0;
    groups = [];
  };
  // The o's before this index stand for zeros: decided once for all the o's in a row (not per o, in
  // quadratic time over a long row of them).
  let zerosUntil = -1;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit === LETTER_O && runStart >= 0 && i >= zerosUntil) zerosUntil = zeroOsEnd(text, i, gap);
    const digit = NUMERALS.get(unit) ?? (unit === LETTER_O && i < zerosUntil ? '0' : undefined);
    if (digit !== undefined) {
      const group = groups[groups.length - 1];
      if (runStart < 0 || gap > 0 || !group) groups.push({ digits: digit, start: i, end: i + 1 });
      else {
        group.digits += digit;
        group.end = i + 1;
      }
      if (runStart < 0) runStart = i;
      digits += digit;
      lastDigitEnd = i + 1;
      gap = 0;
    } else if (runStart >= 0 && SEPARATORS.has(unit) && gap < MAX_SEPARATORS) {
      gap += 1;
    } else if (runStart >= 0 && unit > 0x7f) {
      const char = String.fromCodePoint(text.codePointAt(i) ?? unit);
      if (INVISIBLE.test(char)) {
        // A digit's own marks (its keycap, a stroke through it) are masked with it.
        if (gap === 0) {
          lastDigitEnd = i + char.length;
          (groups[groups.length - 1] as DigitGroup).end = lastDigitEnd;
        }
        i += char.length - 1;
      } else if (SYMBOL.test(char) && gap < MAX_SEPARATORS) {
        gap += 1;
        i += char.length - 1;
      } else {
        close();
      }
    } else if (runStart >= 0) {
      close();
    }
  }
  if (runStart >= 0) close();
}

/** Patterns over folded text, each with its label; every match is a finding. */
const PATTERNS: readonly [GuardLabel, RegExp][] = [
  [
    'wechat',
    /(?<![a-z])(?:微信|威信|薇信|徽信|维信|v信|wei信|微xin|vx|wx|weixin|wechat|卫星|绿泡泡|加v|\+v|➕v|加微|微号|v(?=\s*:))\s*(?:号码|号|id)?[^a-z0-9]{0,6}?[a-z][-_a-z0-9]{5,19}(?![a-z0-9])/g,
  ],
  [
    'wechat',
    /加(?:我|个|下|一下)?(?:微信|威信|薇信|v信|wei信|微xin|vx|wx|v(?![a-z])|微|卫星|绿泡泡|好友)|(?:微信|威信|薇信|v信|wei信|微xin|vx|wx|卫星)(?:上)?(?:聊|联系|沟通|找我|详谈|私聊|细聊|发你|交流|加我)|留(?:个|下)?(?:微信|vx|v信|wx)/g,
  ],
  ['qq', /加(?:我|个|下)?(?:qq|扣扣|企鹅|球球)|(?:qq|扣扣|企鹅)(?:上)?(?:聊|联系|找我|详谈|加我)/g],
  [
    'email',
    /[a-z0-9][a-z0-9._%+-]{0,63}\s*(?:@|\(at\)|\[at\]|艾特)\s*[a-z0-9-]+(?:\s*(?:\.|点|\(dot\)|\[dot\])\s*[a-z0-9-]+)*?\s*(?:\.|点|\(dot\)|\[dot\])\s*(?:com|cn|net|org|edu|io|me|co|top|xyz|cc)(?![a-z])/g,
  ],
  [
    'link',
    /(?:https?:\/\/|www\.)[^\s，。！？、）)]+|(?<![a-z0-9@.])[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\s*(?:\.|点|\(dot\)|\[dot\])\s*(?:com|cn|net|top|xyz|shop|vip|cc|me|io|link|store|club|site|online|info|biz)(?:\/[^\s，。！？]*)?(?![a-z0-9])|淘口令|[¥$€][a-z0-9]{8,14}[¥$€]/g,
  ],
  [
    'offsite',
    /私下(?:交易|转账|付款|联系|沟通|买|卖|给你|来)|线下(?:交易|转账|付款|面交)|不走平台|(?:绕过|绕开|脱离|避开|跳过)平台|平台外(?:交易|付款|转账)|(?:转账|打款|汇款)(?:给我|到我)|(?:支付宝|微信|银行卡|银行)(?:直接)?(?:转账|打款|汇款|扫码|收款)|收款码|扫码(?:付|支付|转账)|走(?:支付宝|银行卡)|(?:别|不要|不用)在(?:平台|这里|这)(?:上)?(?:拍|下单|付款|买)|(?:留|给|发|加)(?:你|我)?(?:个|一下)?联系方式|手机号(?:发|给)(?:你|我)/g,
  ],
];

const PRINTABLE_ASCII = /^[ -~]*$/;

/**
 * What people put between the characters of a word to break it up: 微 信,
 * 威❤️信, 私 下 交 易, w e i x i n, v❤x. Removed (up to four between two Han
 * characters, or between two letters standing alone) before anything is
 * matched; never next to a digit, so numbers are read as they were written.
 */
const SPACER = '[\\s\\p{Cf}\\p{M}\\p{So}\\p{Extended_Pictographic}*·._~-]{1,4}';
const SPACED = new RegExp(
  `(?<=\\p{Script=Han})${SPACER}(?=\\p{Script=Han})|(?<=(?<![a-z0-9])[a-z])${SPACER}(?=[a-z](?![a-z0-9]))`,
  'gu',
);

/** `text` without the spacers inside words, and where each unit of it was in `text`; undefined when there are none. */
function squeeze(text: string): { text: string; at: number[] } | undefined {
  let out = '';
  const at: number[] = [];
  let from = 0;
  for (const match of text.matchAll(SPACED)) {
    for (let i = from; i < match.index; i++) at.push(i);
    out += text.slice(from, match.index);
    from = match.index + match[0].length;
  }
  if (from === 0) return undefined;
  for (let i = from; i < text.length; i++) at.push(i);
  return { text: out + text.slice(from), at };
}

/**
 * Folded text and, unless it folds unit for unit (ASCII, or NFKC-stable text
 * whose lower case keeps its length: nearly every message), where each folded
 * unit came from.
 */
function foldForMatching(original: string): { text: string; starts: number[] | null; ends: number[] | null } {
  if (PRINTABLE_ASCII.test(original)) return { text: original.toLowerCase(), starts: null, ends: null };
  if (original.normalize('NFKC') === original) {
    const lower = original.toLowerCase();
    if (lower.length === original.length) return { text: lower, starts: null, ends: null };
  }
  return foldWithOffsets(original);
}

/** The detector for a sensitive-word list (folded here, so `Ｆｏｏ` in the list matches `foo` in a message). */
export function createDetector(words: readonly string[] = []): Detector {
  // Squeezed as messages are: a word written with a space between Han characters still matches.
  const matcher = createWordMatcher(
    words
      .map((word) => fold(word.trim()))
      .map((word) => squeeze(word)?.text ?? word)
      .filter((word) => word !== ''),
  );

  return {
    detect(original) {
      const folded = foldForMatching(original);
      const squeezed = squeeze(folded.text);
      const text = squeezed?.text ?? folded.text;
      const spans: { label: GuardLabel; start: number; end: number }[] = [];
      const found = squeezed
        ? (label: GuardLabel, start: number, end: number) =>
            void spans.push({ label, start: squeezed.at[start] as number, end: (squeezed.at[end - 1] as number) + 1 })
        : (label: GuardLabel, start: number, end: number) => void spans.push({ label, start, end });
      numbers(text, found);
      for (const [label, pattern] of PATTERNS) {
        pattern.lastIndex = 0;
        for (const match of text.matchAll(pattern)) found(label, match.index, match.index + match[0].length);
      }
      for (const match of matcher.findAll(text)) found('word', match.start, match.end);
      if (spans.length === 0) return [];

      // An e-mail's domain is not a link of its own.
      const emails = spans.filter((span) => span.label === 'email');
      const kept = spans.filter(
        (span) => span.label !== 'link' || !emails.some((email) => email.start <= span.start && span.end <= email.end),
      );
      const toOriginal = (span: (typeof kept)[number]): Finding => ({
        label: span.label,
        start: folded.starts ? (folded.starts[span.start] as number) : span.start,
        end: folded.ends ? (folded.ends[span.end - 1] as number) : span.end,
      });
      return kept.map(toOriginal).sort((a, b) => a.start - b.start || b.end - a.end);
    },
  };
}

/** `text` with every finding's characters replaced by `***` (overlapping or touching findings masked once). */
export function mask(text: string, findings: readonly Finding[]): string {
  let out = '';
  let at = 0;
  for (const finding of [...findings].sort((a, b) => a.start - b.start)) {
    if (out !== '' && finding.start <= at) {
      at = Math.max(at, finding.end);
      continue;
    }
    out += `${text.slice(at, finding.start)}***`;
    at = finding.end;
  }
  return out + text.slice(at);
}
