import { Card, type CardKind } from '@cs-chat/contracts/rest/card.schemas';
import { Compile } from 'typebox/compile';
import { unprocessable } from '../../lib/errors.ts';

/**
 * A `card` message's content: a Card as JSON, validated here and stored in one
 * canonical spelling (fixed key order, no absent fields), so equal cards are
 * equal strings and the preview can be read off the first bytes.
 */

const validator = Compile(Card);

/** The order the keys are written in; `kind` first (cardPreview reads it there). */
const KEYS = ['kind', 'id', 'title', 'image_url', 'price', 'currency', 'status', 'url'] as const;

export interface CardKey {
  kind: CardKind;
  id: string;
}

export function cardJson(card: Card): string {
  const ordered: Record<string, unknown> = {};
  for (const key of KEYS) if (card[key] !== undefined) ordered[key] = card[key];
  return JSON.stringify(ordered);
}

const invalid = (errors: string[]) => unprocessable('invalid_card', errors);

/** Why `value` is not a Card, as "content.field: problem" lines (empty when it is one). */
function cardIssues(value: unknown): string[] {
  if (!validator.Check(value)) {
    const lines = [...validator.Errors(value)].map((issue) => {
      const field = issue.instancePath.split('/').filter(Boolean).join('.');
      return `content${field ? `.${field}` : ''}: ${issue.message ?? 'is invalid'}`;
    });
    return [...new Set(lines)];
  }
  // The pattern admits only https:// and no spaces; the URL must also parse as one.
  const card = value as Card;
  return (['image_url', 'url'] as const)
    .filter((key) => card[key] !== undefined && URL.parse(card[key] as string)?.protocol !== 'https:')
    .map((key) => `content.${key}: must be an https URL`);
}

/** A card from untrusted JSON text (a message's content); 422 invalid_card when it is not one. */
export function parseCard(raw: string): Card {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(['content: must be a card as JSON']);
  }
  const issues = cardIssues(value);
  if (issues.length > 0) throw invalid(issues);
  return value as Card;
}

/** Checks a card built from trusted parts (the platform's PUT, already schema-checked): its URLs. */
export function checkCard(card: Card): Card {
  const issues = cardIssues(card);
  if (issues.length > 0) throw invalid(issues);
  return card;
}

/** The kind and id of stored (canonical) card content; undefined for anything else. */
export function cardKeyOf(content: string): CardKey | undefined {
  try {
    const { kind, id } = JSON.parse(content) as Partial<CardKey>;
    return (kind === 'product' || kind === 'order') && typeof id === 'string' ? { kind, id } : undefined;
  } catch {
    return undefined;
  }
}

/** `[订单]` or `[商品]`: stored content is canonical, so its kind is its first key. */
export function cardPreview(content: string): string {
  return content.startsWith('{"kind":"order"') ? '[订单]' : '[商品]';
}

export const cardKeyString = (key: CardKey) => `${key.kind}:${key.id}`;

/** Whether two stored card contents show the same card (kind and id), whatever their other fields. */
export function sameCardKey(a: string, b: string): boolean {
  const [first, second] = [cardKeyOf(a), cardKeyOf(b)];
  return first !== undefined && second !== undefined && cardKeyString(first) === cardKeyString(second);
}
