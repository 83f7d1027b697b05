import { Compile } from 'typebox/compile';
import { illFormedIssues } from '../well-formed.ts';
import { type ClientFrame, MessageFrame, PingFrame, ReadFrame, TypingFrame } from './protocol.ts';

/**
 * Parsing inbound text frames into the client frames of the protocol
 * (protocol.ts), or a rejection the gateway answers with an `error` event.
 */

/**
 * Client frames are flat objects. Deeper nesting is refused before JSON.parse,
 * which spends ~40× longer on 60 KiB of nested brackets than on a flat frame
 * of the same size (milliseconds of the one event loop every socket shares).
 */
export const MAX_FRAME_DEPTH = 32;
/** Shorter frames cannot nest deep enough to be costly and skip the scan. */
const DEPTH_SCAN_FROM_LENGTH = 1024;

/** Why a frame was rejected: a stable code, optional detail lines, and the client_msg_id if one was readable. */
export interface FrameRejection {
  errorType: 'invalid_json' | 'invalid_frame' | 'unknown_frame_type' | 'validation_error';
  errors?: string[];
  clientMsgId?: string;
}

export type ParsedFrame = { ok: true; frame: ClientFrame } | ({ ok: false } & FrameRejection);

const frameValidators = {
  message: Compile(MessageFrame),
  read: Compile(ReadFrame),
  typing: Compile(TypingFrame),
  ping: Compile(PingFrame),
};

function isFrameType(type: unknown): type is keyof typeof frameValidators {
  return typeof type === 'string' && Object.hasOwn(frameValidators, type);
}

function describeIssues(
  issues: readonly { instancePath: string; keyword: string; message?: string; params: unknown }[],
) {
  const lines = issues.map((issue) => {
    const field = issue.instancePath.split('/').filter(Boolean).join('.');
    const params = issue.params as { requiredProperties?: string[] } | undefined;
    if (issue.keyword === 'required' && params?.requiredProperties) {
      return params.requiredProperties.map((name) => `${[field, name].filter(Boolean).join('.')}: is required`);
    }
    return [`${field || 'frame'}: ${issue.message ?? 'is invalid'}`];
  });
  return [...new Set(lines.flat())];
}

/** Whether JSON text nests arrays/objects deeper than `limit` (brackets inside strings do not count). */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}

/**
 * Parses one text frame. Dispatches on `type` first so a bad field in a known
 * frame is reported against that frame's schema, not a union of all of them.
 * Unknown extra fields are tolerated (older clients send a few).
 */
export function parseClientFrame(text: string): ParsedFrame {
  if (text.length > DEPTH_SCAN_FROM_LENGTH && nestsDeeperThan(text, MAX_FRAME_DEPTH)) {
    return { ok: false, errorType: 'invalid_frame' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, errorType: 'invalid_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, errorType: 'invalid_frame' };
  }
  const record = value as Record<string, unknown>;
  const clientMsgId = typeof record.client_msg_id === 'string' ? record.client_msg_id.slice(0, 64) : undefined;
  const withId = clientMsgId === undefined ? {} : { clientMsgId };
  if (!isFrameType(record.type)) return { ok: false, errorType: 'unknown_frame_type', ...withId };
  const validator = frameValidators[record.type];
  if (!validator.Check(value)) {
    return { ok: false, errorType: 'validation_error', errors: describeIssues(validator.Errors(value)), ...withId };
  }
  const illFormed = illFormedIssues(value);
  if (illFormed.length > 0)
    return { ok: false, errorType: 'validation_error', errors: describeIssues(illFormed), ...withId };
  return { ok: true, frame: value as ClientFrame };
}
