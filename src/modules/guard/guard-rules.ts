import {
  GUARD_ROLES,
  type GuardAction,
  type GuardRole,
  type GuardRuleTable,
} from '@cs-chat/contracts/rest/guard.schemas';
import type { ScreenVerdict } from '../messages/content-screen.ts';
import { createDetector, type Detector, mask } from './detector.ts';

const SENDERS = (action: GuardAction, service: GuardAction = 'allow') => ({
  buyer: action,
  merchant: action,
  service,
});

/**
 * The rules while no admin has set any (README, "Content guard"). Contact
 * details and links from buyers and merchants are masked: the conversation
 * goes on, the number does not get through, and no existing client meets a
 * status it does not know. A lure without a contact (私下交易, 支付宝转账)
 * cannot be masked into sense, so a person looks at it first (hold). The
 * platform's own service agents are recorded only: they give out the
 * official hotline and links. Sensitive words are blocked, whoever sends them;
 * the list is empty until an admin fills it.
 */
export const DEFAULT_RULES: GuardRuleTable = {
  phone: SENDERS('mask'),
  wechat: SENDERS('mask'),
  qq: SENDERS('mask'),
  email: SENDERS('mask'),
  link: SENDERS('mask'),
  offsite: SENDERS('hold'),
  word: SENDERS('block', 'block'),
};

/** The strictest action of a message's findings is its outcome. */
const STRICTNESS: Record<GuardAction, number> = { allow: 0, mask: 1, hold: 2, block: 3 };

/**
 * At most this many findings of one message are recorded (its decision rows,
 * the `guard.flagged` webhook's findings): the first of each label and
 * action, then the others in order. A line of 5,000 matches (a one-character
 * sensitive word, a pasted list of numbers) is all masked or refused, and its
 * first findings are evidence enough; recording every one was 5,000 rows in
 * the send's transaction (and on SQLite more parameters than one statement takes).
 */
export const MAX_RECORDED_FINDINGS = 20;

/** The indexes of the findings recorded (see MAX_RECORDED_FINDINGS), in order. */
function recorded(keys: readonly string[]): number[] {
  if (keys.length <= MAX_RECORDED_FINDINGS) return keys.map((_, i) => i);
  const kept = new Set<number>();
  const seen = new Set<string>();
  keys.forEach((key, i) => {
    if (!seen.has(key)) kept.add(i);
    seen.add(key);
  });
  for (let i = 0; i < keys.length && kept.size < MAX_RECORDED_FINDINGS; i++) kept.add(i);
  return [...kept].sort((a, b) => a - b);
}

/** The longest excerpt a decision keeps of what matched. */
const EXCERPT_LENGTH = 200;

export interface CompiledRules {
  table: GuardRuleTable;
  words: readonly string[];
  detector: Detector;
}

export function compileRules(table: GuardRuleTable, words: readonly string[]): CompiledRules {
  return { table, words, detector: createDetector(words) };
}

const isGuardRole = (role: string): role is GuardRole => (GUARD_ROLES as readonly string[]).includes(role);

/**
 * What the rules make of `text` sent by a `role`: undefined when nothing is
 * found. Findings of `mask` rules are masked in what is delivered, whatever
 * the outcome; a masked or blocked message is a strike at once, a held one
 * only if its reviewer rejects it.
 */
export function judge(rules: CompiledRules, role: string, text: string): ScreenVerdict | undefined {
  const findings = rules.detector.detect(text);
  if (findings.length === 0) return undefined;
  // Admins never send (access policy); anyone else without a rule of their own is only recorded.
  const actions = findings.map((finding) => (isGuardRole(role) ? rules.table[finding.label][role] : 'allow'));
  const strictest = actions.reduce<GuardAction>((a, b) => (STRICTNESS[b] > STRICTNESS[a] ? b : a), 'allow');
  const masked = findings.filter((_, i) => actions[i] === 'mask');
  return {
    outcome: strictest === 'block' ? 'block' : strictest === 'hold' ? 'hold' : 'deliver',
    content: masked.length > 0 ? mask(text, masked) : text,
    role,
    findings: recorded(findings.map((finding, i) => `${finding.label}/${actions[i]}`)).map((i) => {
      const finding = findings[i] as (typeof findings)[number];
      return {
        label: finding.label,
        action: actions[i] as GuardAction,
        excerpt: Array.from(text.slice(finding.start, finding.end)).slice(0, EXCERPT_LENGTH).join(''),
      };
    }),
    strike: strictest === 'block' || (strictest !== 'hold' && masked.length > 0),
  };
}
