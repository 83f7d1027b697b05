import type { KeywordReply } from '@cs-chat/contracts/rest/team.schemas';

/**
 * Keyword matching (issue 14): NFKC folds full-width forms to half-width
 * ("ＶＩＰ" is "VIP", "１２" is "12") and compatibility characters; then case
 * folding (toLowerCase, which covers full-width Latin once NFKC has run) and
 * trimming. Chinese text is matched as is after NFKC.
 */
export const fold = (text: string): string => text.normalize('NFKC').toLowerCase().trim();

/** Rules with their keywords folded once (when the settings are read), not on every message. */
export interface CompiledRule {
  index: number;
  match: KeywordReply['match'];
  keywords: readonly string[];
  reply: string;
}

export function compileRules(rules: readonly KeywordReply[]): CompiledRule[] {
  return rules.map((rule, index) => ({
    index,
    match: rule.match,
    keywords: rule.keywords.map(fold).filter((keyword) => keyword.length > 0),
    reply: rule.reply,
  }));
}

/** The first rule one of whose keywords matches `text`, or undefined. */
export function firstMatch(rules: readonly CompiledRule[], text: string): CompiledRule | undefined {
  const folded = fold(text);
  return rules.find((rule) =>
    rule.keywords.some((keyword) => (rule.match === 'exact' ? folded === keyword : folded.includes(keyword))),
  );
}
